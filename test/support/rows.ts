import { test as uvuTest } from 'uvu';
import { forceRowStrategy, ROW_STRATEGIES, rowStrategyRuns } from '../../src/kernels/rows.js';
import { testGpu } from './gpu.js';

/**
 * Registers the test once per row strategy, so a software adapter runs the hardware GPUs' paths too. A
 * strategy the adapter cannot run (subgroup without subgroups) is not a candidate there and is skipped;
 * rows.test.ts checks which ones run.
 */
export function eachRowStrategy(test: typeof uvuTest, name: string, body: () => Promise<void>): void {
  for (const strategy of ROW_STRATEGIES) {
    test(`${name} [${strategy} per row]`, async () => {
      if (!rowStrategyRuns(await testGpu(), strategy)) return;
      forceRowStrategy(strategy);
      await body();
    });
  }
}
