export { getDevice, createDevice, describeAdapter, isDeviceLost, deviceLostReason, deviceLostError, type DeviceOptions } from './device.js';
export { Gpu, type GpuFeatures, type Dispatch } from './gpu.js';
export { halfToFloat, floatToHalf, floatsToHalves, halvesToFloats, encodeF16, toHalves } from './f16.js';
export { isNode } from './env.js';
export { Tensor, type DType, type QuantizedDType, QUANT_BLOCK, isQuantized, quantizedRowWords, elementCount, byteLengthOf } from './tensor.js';
export { GeolensError, ShapeError, NoAdapterError, DeviceError, DEVICE_LOST_HINT, formatShape } from './errors.js';
export { linearWorkgroups } from './dispatch.js';
export { type PipelineRequest } from './pipelines.js';
