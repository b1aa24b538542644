export { getDevice, createDevice, describeAdapter, listAdapters, pickAdapter, adapterKind, isDeviceLost, deviceLostReason, deviceLostError, LAVAPIPE_ICD_PATHS, SWIFTSHADER_ICD_PATHS, type DeviceOptions, type AdapterKind, type AdapterCandidate, type AdapterList } from './device.js';
export { Gpu, type GpuFeatures, type Dispatch } from './gpu.js';
export { halfToFloat, floatToHalf, floatsToHalves, halvesToFloats, encodeF16, toHalves } from './f16.js';
export { isNode } from './env.js';
export { setHostWait, hostWait, type HostWait } from './host-wait.js';
export { Tensor, type DType, type QuantizedDType, QUANT_BLOCK, isQuantized, quantizedRowWords, elementCount, byteLengthOf } from './tensor.js';
export { GeolensError, ShapeError, NoAdapterError, DeviceError, DEVICE_LOST_HINT, formatShape } from './errors.js';
export { linearWorkgroups } from './dispatch.js';
export { type PipelineRequest } from './pipelines.js';
