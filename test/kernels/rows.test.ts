import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { layerNorm } from '../../src/kernels/layernorm.js';
import { softmax, softmaxReference } from '../../src/kernels/softmax.js';
import {
  defaultRowStrategy, forceRowStrategy, rowShapeKey, rowStrategies, rowStrategyFor, setTunedRowChoices, type RowStrategy,
} from '../../src/kernels/rows.js';
import type { Gpu } from '../../src/runtime/index.js';
import { testGpu } from '../support/gpu.js';
import { assertClose, randomArray } from '../support/numeric.js';

/** The entry point and workgroup size a layerNorm over [rows, cols] dispatches, read from its plan. */
function layerNormRun(gpu: Gpu, rows: number, cols: number): { entryPoint: string; workgroupSize: number } {
  const x = gpu.upload(new Float32Array(rows * cols), [rows, cols]);
  const gamma = gpu.upload(new Float32Array(cols), [cols]);
  const [request] = gpu.plan(() => void layerNorm(x, gamma, gamma));
  x.release();
  gamma.release();
  return { entryPoint: request!.entryPoint!, workgroupSize: Number(request!.constants!.WORKGROUP_SIZE) };
}

const ENTRY_POINTS: Record<RowStrategy, string> = { workgroup: 'main', invocation: 'rowPerInvocation', subgroup: 'rowPerSubgroup' };

test('the subgroup strategy is a candidate exactly where the adapter has subgroups, one subgroup a workgroup', async () => {
  const gpu = await testGpu();
  const info = gpu.adapter.info as GPUAdapterInfo & { subgroupMinSize?: number };
  const hasSubgroups = gpu.subgroupsOfAtLeast(4);
  assert.equal(rowStrategies(gpu), hasSubgroups ? ['workgroup', 'invocation', 'subgroup'] : ['workgroup', 'invocation']);
  if (!hasSubgroups) return;
  forceRowStrategy('subgroup');
  const run = layerNormRun(gpu, 50, 768);
  assert.equal(run, { entryPoint: 'rowPerSubgroup', workgroupSize: Math.min(info.subgroupMinSize!, 64) });
  // The only pipeline that says `enable subgroups`, so adapters without them never compile it.
  const x = gpu.upload(new Float32Array(8), [2, 4]);
  const [subgroupRequest] = gpu.plan(() => void softmax(x));
  forceRowStrategy('invocation');
  const [plainRequest] = gpu.plan(() => void softmax(x));
  x.release();
  assert.ok(subgroupRequest!.code.startsWith('enable subgroups;'));
  assert.not.match(plainRequest!.code, /enable subgroups|subgroupAdd/);
});

test('shape keys: op, row length and row class', () => {
  assert.is(rowShapeKey('layerNorm', 50, 768), 'layerNorm c768 r<=64');
  assert.is(rowShapeKey('layerNorm', 33, 768), 'layerNorm c768 r<=64');
  assert.is(rowShapeKey('layerNorm', 65, 768), 'layerNorm c768 r<=256');
  assert.is(rowShapeKey('softmax', 1, 100000), 'softmax c100000 r<=1');
  assert.is(rowShapeKey('l2Normalize', 100000, 512), 'l2Normalize c512 r>4096');
});

test('a tuned strategy is used for its shape class only; forcing still wins; every strategy computes softmax', async () => {
  const gpu = await testGpu();
  forceRowStrategy(null);
  const strategies = rowStrategies(gpu);
  const other = strategies.find((s) => s !== defaultRowStrategy(gpu))!;
  setTunedRowChoices(gpu, { [rowShapeKey('layerNorm', 50, 768)]: other });
  try {
    assert.is(layerNormRun(gpu, 40, 768).entryPoint, ENTRY_POINTS[other]);
    assert.is(layerNormRun(gpu, 40, 1024).entryPoint, ENTRY_POINTS[defaultRowStrategy(gpu)]);
    assert.is(layerNormRun(gpu, 100, 768).entryPoint, ENTRY_POINTS[defaultRowStrategy(gpu)]);
    assert.is(rowStrategyFor(gpu, 'softmax', 40, 768), defaultRowStrategy(gpu));
    for (const strategy of strategies) {
      forceRowStrategy(strategy);
      assert.is(layerNormRun(gpu, 40, 768).entryPoint, ENTRY_POINTS[strategy]);
      // Fewer columns than lanes, and a length no subgroup size divides.
      for (const cols of [3, 37]) {
        const values = randomArray(5 * cols, cols, 8);
        const out = await softmax(gpu.upload(values, [5, cols])).read();
        assertClose(out, softmaxReference(values, cols), 1e-5, 1e-7, `softmax [5, ${cols}] ${strategy}`);
      }
    }
  } finally {
    setTunedRowChoices(gpu, null);
  }
});

test.after.each(() => forceRowStrategy(null));
test.run();
