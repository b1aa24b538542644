import { GeolensError } from '../runtime/index.js';

/**
 * A weight file is malformed, truncated, unsupported or unsafe, or a download failed its checks. The
 * message names the file (when known), the tensor (when one is involved) and what exactly is wrong.
 */
export class WeightsError extends GeolensError {
  override name = 'WeightsError';
}

/** A tensor the model asks for is not in the checkpoint. */
export class MissingTensorError extends WeightsError {
  override name = 'MissingTensorError';
}
