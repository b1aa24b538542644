// The same kernel runs, on the same seeded inputs, in Node (Dawn) and in headless Chromium; both call
// this module, so any difference comes from the platform, never from the test.
import { add } from '../../src/kernels/add.js';
import type { Gpu, Tensor } from '../../src/runtime/index.js';
import { randomArray } from '../support/numeric.js';

export type CaseOutputs = Record<string, number[]>;

type Case = (gpu: Gpu) => Promise<Tensor | Float32Array>;

function input(gpu: Gpu, shape: number[], seed: number, scale = 1): Tensor {
  return gpu.upload(randomArray(shape.reduce((a, b) => a * b, 1), seed, scale), shape);
}

export const CASES: Record<string, Case> = {
  add: async (gpu) => add(input(gpu, [3, 257, 65], 1), input(gpu, [3, 257, 65], 2)),
};

/** Extra cases registered by kernels that exist in this build (see kernel-cases.ts). */
export function registerCase(name: string, run: Case): void {
  CASES[name] = run;
}

export async function runCases(gpu: Gpu): Promise<CaseOutputs> {
  const outputs: CaseOutputs = {};
  for (const [name, run] of Object.entries(CASES)) {
    const result = await run(gpu);
    const values = result instanceof Float32Array ? result : await result.read();
    outputs[name] = Array.from(values);
  }
  return outputs;
}
