import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CEILING_ACCUMULATORS, copyProbe, fmaProbe, fmaProbeReference, MAX_FMA_ITERATIONS, measureCeiling, type FmaProbe } from '../../src/kernels/ceiling.js';
import { ShapeError } from '../../src/runtime/index.js';
import { testGpu } from '../support/gpu.js';

test('FMA probe equals the closed-form reference exactly (multiplier 1, addend 1) for every accumulator count and two workgroup sizes', async () => {
  const gpu = await testGpu();
  for (const workgroupSize of [64, 256]) {
    for (const accumulators of CEILING_ACCUMULATORS) {
      // 2304 invocations: the start values wrap at 1024, and the last workgroups see the wrap.
      const probe: FmaProbe = { workgroupSize, accumulators, invocations: 2304, iterations: 1000 };
      const got = await fmaProbe(gpu, probe).read();
      assert.equal(Array.from(got), Array.from(fmaProbeReference(probe)), `workgroup ${workgroupSize}, ${accumulators} accumulators`);
    }
  }
});

test('the exact check catches a chain one iteration short (the reference is not blind to the count)', async () => {
  const gpu = await testGpu();
  const probe: FmaProbe = { workgroupSize: 128, accumulators: 8, invocations: 256, iterations: 77 };
  const got = await fmaProbe(gpu, probe).read();
  const shorter = fmaProbeReference({ ...probe, iterations: 76 });
  // Four steps of +1 on each of 8 chains: every element is 32 above the shorter run.
  for (let i = 0; i < got.length; i++) assert.is(got[i]! - shorter[i]!, 32, `element ${i}`);
});

test('FMA probe follows the float64 recurrence with a contracting multiplier (0.999, addend 0.5) within f32 rounding', async () => {
  const gpu = await testGpu();
  const multiplier = Math.fround(0.999);
  const probe: FmaProbe = { workgroupSize: 64, accumulators: 4, invocations: 1024, iterations: 300 };
  const got = await fmaProbe(gpu, probe, multiplier, 0.5).read();
  const expected = fmaProbeReference(probe, multiplier, 0.5);
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - expected[i]!) / Math.abs(expected[i]!));
  // Each step rounds once or twice (2^-24 each); the recurrence damps old errors by 0.999 a step.
  assert.ok(worst < 3e-4, `worst relative error ${worst}`);
  // 1200 steps move the chains far from where they started: a probe that skipped the loop would fail.
  const skipped = fmaProbeReference({ ...probe, iterations: 0 }, multiplier, 0.5);
  assert.ok(Math.abs(got[5]! - skipped[5]!) / Math.abs(skipped[5]!) > 0.1);
});

test('FMA probe with zero iterations writes the start values', async () => {
  const gpu = await testGpu();
  const probe: FmaProbe = { workgroupSize: 64, accumulators: 2, invocations: 64, iterations: 0 };
  const got = await fmaProbe(gpu, probe).read();
  // Invocation 3, lane 2: chains start at 3 + 16 and 3 + 16 + 1.
  assert.is(got[3 * 4 + 2], 39);
  assert.equal(Array.from(got), Array.from(fmaProbeReference(probe)));
});

test('FMA probe refuses accumulator counts, invocation counts and iteration counts it cannot run, naming them', async () => {
  const gpu = await testGpu();
  const ok: FmaProbe = { workgroupSize: 64, accumulators: 4, invocations: 128, iterations: 1 };
  assert.throws(() => fmaProbe(gpu, { ...ok, accumulators: 3 }), (e: Error) => e instanceof ShapeError && /accumulators .*got 3/.test(e.message));
  assert.throws(() => fmaProbe(gpu, { ...ok, invocations: 100 }), (e: Error) => e instanceof ShapeError && /100 invocations/.test(e.message));
  assert.throws(() => fmaProbe(gpu, { ...ok, iterations: MAX_FMA_ITERATIONS + 1 }), (e: Error) => e instanceof ShapeError && /iterations/.test(e.message));
  assert.throws(() => fmaProbe(gpu, { ...ok, workgroupSize: 4096 }), (e: Error) => e instanceof ShapeError && /workgroup size 4096/.test(e.message));
});

test('copy probe reproduces every bit for each vec4 count, and refuses sizes that are not whole blocks', async () => {
  const gpu = await testGpu();
  const n = 64 * 16 * 4 * 3;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = i * 0.5 - 7;
  const input = gpu.upload(a, [n]);
  for (const vectors of [1, 4, 16]) {
    const out = gpu.upload(new Float32Array(n), [n]);
    copyProbe(input, out, 64, vectors);
    assert.equal(Array.from(await out.read()), Array.from(a), `${vectors} vec4s per invocation`);
  }
  const odd = gpu.upload(new Float32Array(n - 4), [n - 4]);
  assert.throws(() => copyProbe(odd, gpu.empty([n - 4]), 64, 16), (e: Error) => e instanceof ShapeError && /multiple of 4096/.test(e.message));
});

test('measureCeiling (quick) reports the best variant, a copy bandwidth, and a copy that fits the binding limit', async () => {
  const gpu = await testGpu();
  const ceiling = await measureCeiling(gpu, { quick: true });
  assert.is(ceiling.variants.length, 4);
  assert.ok(ceiling.variants.every((v) => Number.isFinite(v.gflops) && v.gflops > 0 && v.iterations >= 1));
  assert.is(ceiling.fmaGflops, Math.max(...ceiling.variants.map((v) => v.gflops)));
  const best = ceiling.variants.find((v) => v.gflops === ceiling.fmaGflops)!;
  assert.equal(ceiling.fmaBest, { workgroupSize: best.workgroupSize, accumulators: best.accumulators });
  assert.ok(Number.isFinite(ceiling.copyGBps) && ceiling.copyGBps > 0, `copy ${ceiling.copyGBps} GB/s`);
  assert.is(ceiling.copyVariants.length, 2);
  assert.is(ceiling.copyGBps, Math.max(...ceiling.copyVariants.map((v) => v.gbps)));
  assert.ok(ceiling.copyBufferBytes <= gpu.limits.maxStorageBufferBindingSize);
  assert.is(ceiling.adapter, gpu.adapterName);
});

test('the f16 probe computes the same chains in f16 where shader-f16 exists, and is refused where it does not', async () => {
  const gpu = await testGpu();
  const probe: FmaProbe = { workgroupSize: 64, accumulators: 8, invocations: 128, iterations: 3 };
  if (!gpu.features.f16) {
    assert.throws(() => fmaProbe(gpu, probe, 1, 1, undefined, 'f16'), (e: Error) => e instanceof ShapeError && /shader-f16/.test(e.message));
    return;
  }
  // Every value stays an integer below 2048, exact in f16: start + 12 steps of 1.
  assert.equal(Array.from(await fmaProbe(gpu, probe, 1, 1, undefined, 'f16').read()), Array.from(fmaProbeReference(probe, 1, 1)));
  // f16 rounding shows where f32 would be exact: 0.1 is not a half.
  const rounded = await fmaProbe(gpu, { ...probe, accumulators: 1, iterations: 1 }, 1, 0.1, undefined, 'f16').read();
  const inF32 = fmaProbeReference({ ...probe, accumulators: 1, iterations: 1 }, 1, 0.1);
  assert.ok(rounded.some((v, i) => v !== inF32[i]), 'f16 chains rounded like f32 ones');
});

test.run();
