import { getDevice, type Gpu } from '../../src/runtime/index.js';

/** The one device all tests in this process share (Dawn allows many, but each costs start-up time). */
export function testGpu(): Promise<Gpu> {
  process.env.GEOLENS_QUIET ??= '1';
  return getDevice();
}
