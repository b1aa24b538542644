/** Every error geolens throws on purpose is a GeolensError, so callers can tell ours from the platform's. */
export class GeolensError extends Error {
  override name = 'GeolensError';
}

/** A tensor's shape or dtype does not fit the operation; the message names the shapes involved. */
export class ShapeError extends GeolensError {
  override name = 'ShapeError';
}

/** No usable WebGPU adapter: the message says what to install or enable. */
export class NoAdapterError extends GeolensError {
  override name = 'NoAdapterError';
}

/** How to go on after a device loss: models hold buffers of the lost device, so they are made again. */
export const DEVICE_LOST_HINT = 'create the models again (e.g. `await GeoLocator.create()`): getDevice() now returns a new device';

/** The device was lost or reported a validation / out-of-memory error; pending work is void. */
export class DeviceError extends GeolensError {
  override name = 'DeviceError';
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
