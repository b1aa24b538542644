// Browser side of the cross-platform test: runs every case on navigator.gpu and leaves the numbers on
// window for the Node test to collect.
import { createDevice } from '../../src/runtime/index.js';
import { runCases } from './cases.js';
import './kernel-cases.js';

declare global {
  interface Window {
    geolensResult?: { adapter: string; outputs: Record<string, number[]> } | { error: string };
  }
}

createDevice()
  .then(async (gpu) => ({ adapter: gpu.adapterName, outputs: await runCases(gpu) }))
  .then(
    (result) => (window.geolensResult = result),
    (error: Error) => (window.geolensResult = { error: `${error.name}: ${error.message}` }),
  );
