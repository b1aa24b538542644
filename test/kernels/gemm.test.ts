import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  autotuneGemm, chosenVariantName, defaultVariantName, erfc, forceGemmVariant, gemmFlops, gemmVariant, gemmVariantRuns, linear, linearReference,
  runnableGemmVariants, type Activation,
} from '../../src/kernels/gemm.js';
import { floatsToHalves, halvesToFloats, ShapeError, Tensor, type Gpu } from '../../src/runtime/index.js';
import { testGpu } from '../support/gpu.js';
import { randomArray, relativeError } from '../support/numeric.js';

interface Case {
  batch: number[];
  m: number;
  k: number;
  n: number;
  variant?: string;
  activation?: Activation;
  bias?: 'f32' | 'f16';
  weight?: 'f32' | 'f16';
  /** Scale of x, to push pre-activations into the range where an activation bends. */
  scale?: number;
  /** Flat indices of x to set to NaN. */
  nans?: number[];
}

const references = new Map<string, Float64Array>();

/** Runs linear() and the float64 reference on the same random data; returns both. */
async function runCase(gpu: Gpu, c: Case): Promise<{ actual: Float32Array; expected: Float64Array; shape: readonly number[] }> {
  const rows = c.batch.reduce((a, b) => a * b, 1) * c.m;
  const xShape = [...c.batch, c.m, c.k];
  const x = randomArray(rows * c.k, 11 + c.k, c.scale ?? 1);
  for (const i of c.nans ?? []) x[i] = NaN;
  const w32 = randomArray(c.n * c.k, 23 + c.n, 1 / Math.sqrt(c.k));
  const halves = c.weight === 'f16' ? floatsToHalves(w32) : null;
  const w = halves ? halvesToFloats(halves) : w32;
  const b32 = randomArray(c.n, 5);
  const biasHalves = c.bias === 'f16' ? floatsToHalves(b32) : null;
  const b = biasHalves ? halvesToFloats(biasHalves) : b32;

  const xT = gpu.upload(x, xShape);
  const wT = halves ? gpu.upload(halves, [c.n, c.k], 'f16') : gpu.upload(w32, [c.n, c.k]);
  const bT = c.bias ? (biasHalves ? gpu.upload(biasHalves, [c.n], 'f16') : gpu.upload(b32, [c.n])) : undefined;
  const y = linear(xT, wT, { bias: bT, activation: c.activation, variant: c.variant });
  const actual = await y.read();
  const shape = y.shape;
  for (const t of [xT, wT, bT, y]) t?.release();
  // Variants share the reference: the ladder tests compare six variants against one float64 product.
  const key = JSON.stringify({ ...c, variant: undefined });
  let expected = references.get(key);
  if (!expected) references.set(key, (expected = linearReference(x, xShape, w, [c.n, c.k], c.bias ? b : undefined, c.activation)));
  return { actual, expected, shape };
}

async function expectClose(c: Case, label: string): Promise<void> {
  const gpu = await testGpu();
  const { actual, expected, shape } = await runCase(gpu, c);
  assert.equal([...shape], [...c.batch, c.m, c.n], `${label}: output shape`);
  const error = relativeError(actual, expected);
  assert.ok(error <= 1e-5, `${label}: relative error ${error.toExponential(2)} > 1e-5`);
}

/** uvu's test(), printing each test's seconds when GEMM_TEST_TIMES=1 (to keep the suite fast). */
function timed(name: string, fn: () => unknown): void {
  test(name, async () => {
    const start = performance.now();
    await fn();
    if (process.env.GEMM_TEST_TIMES === '1') console.log(`\n${((performance.now() - start) / 1000).toFixed(2)} s  ${name}`);
  });
}

// Every variant this adapter runs (the subgroup kernels need 8-lane subgroups: lavapipe, not SwiftShader).
const variants = runnableGemmVariants(await testGpu()).map((v) => v.name);

timed('every variant matches the float64 reference on M=257, K=1023, N=65, batch 3 (tails everywhere)', async () => {
  for (const variant of variants) {
    await expectClose({ batch: [3], m: 257, k: 1023, n: 65, variant, bias: 'f32', activation: 'gelu', scale: 0.5 }, variant);
  }
});

timed('every variant matches on the vec4 path (K % 4 == 0) with odd M and N', async () => {
  for (const variant of variants) {
    await expectClose({ batch: [2], m: 33, k: 68, n: 37, variant, bias: 'f32', activation: 'gelu' }, `${variant} K=68`);
  }
});

timed('every variant handles M = K = N = 1', async () => {
  for (const variant of variants) {
    await expectClose({ batch: [], m: 1, k: 1, n: 1, variant, bias: 'f32', activation: 'gelu' }, `${variant} 1x1x1`);
  }
});

// The epilogue is one file shared by all variants, so one cheap-to-compile variant covers the activations;
// the ladder, f16 and NaN tests run activations through the others.
timed('each activation matches the reference, with and without bias, on both K paths', async () => {
  for (const activation of ['none', 'relu', 'gelu', 'quick_gelu'] as const) {
    for (const bias of [undefined, 'f32'] as const) {
      for (const k of [37, 40]) {
        await expectClose({ batch: [2], m: 19, k, n: 21, activation, bias, scale: 3, variant: 'register4x4' }, `${activation} bias=${bias} K=${k}`);
      }
    }
  }
});

timed('gelu is the exact erf form across its range, including the far negative tail', async () => {
  const gpu = await testGpu();
  // x = [v], w = [[1]]: the output is gelu(v) itself.
  const values = Float32Array.from({ length: 161 }, (_, i) => -10 + i / 8);
  const y = await linear(gpu.upload(values, [161, 1]), gpu.upload(new Float32Array([1]), [1, 1]), { activation: 'gelu' }).read();
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    const expected = 0.5 * v * erfc(-v / Math.SQRT2);
    assert.ok(Math.abs(y[i]! - expected) <= 1e-6 * Math.abs(v) + 1e-30 || Math.abs(y[i]! - expected) <= 2e-6 * Math.abs(expected),
      `gelu(${v}) = ${y[i]}, expected ${expected}`);
  }
});

timed('the float64 erfc reference agrees with known values', () => {
  const known: [number, number][] = [[0, 1], [0.5, 0.4795001221869535], [1, 0.15729920705028513], [2, 0.004677734981047266],
    [3, 2.209049699858544e-5], [5, 1.5374597944280349e-12], [-1, 1.8427007929497148]];
  for (const [z, value] of known) assert.ok(Math.abs(erfc(z) - value) <= 1e-13 * Math.max(1, value) + value * 1e-12, `erfc(${z}) = ${erfc(z)}`);
});

timed('f16 weights and f16 bias: every variant, both K paths, reference on the same halves', async () => {
  for (const variant of variants) {
    for (const k of [61, 64]) {
      await expectClose({ batch: [3], m: 17, k, n: 23, variant, weight: 'f16', bias: 'f16', activation: 'quick_gelu' }, `${variant} f16 K=${k}`);
    }
  }
});

timed('a NaN in x makes exactly its own row NaN, in every variant and with every activation', async () => {
  const gpu = await testGpu();
  const [m, k, n] = [21, 13, 18];
  const nanRows = new Set([0, 7, 20, 21 + 5]); // batch 2: the last is row 5 of the second batch
  const nans = [...nanRows].map((r, i) => r * k + ((i * 5) % k));
  const cases = [...variants.map((variant) => ({ variant, activation: 'gelu' as const })),
    ...(['none', 'relu', 'quick_gelu'] as const).map((activation) => ({ variant: 'register4x4', activation }))];
  for (const { variant, activation } of cases) {
    {
      const { actual } = await runCase(gpu, { batch: [2], m, k, n, variant, activation, bias: 'f32', nans });
      for (let r = 0; r < 2 * m; r++) {
        for (let c = 0; c < n; c++) {
          const isNaN = Number.isNaN(actual[r * n + c]!);
          assert.is(isNaN, nanRows.has(r), `${variant} ${activation}: y[${r}, ${c}] = ${actual[r * n + c]}`);
        }
      }
    }
  }
});

timed('the default variant hands a short last row block to a smaller block, exactly', async () => {
  // register16x16 by default on software: 50 = 48 + 2 (4×4 tail), 22 = 16 + 6 (8×8 tail), 29 = 16 + 13
  // (no split), 3 (4×4 only); other adapters run these through their own variant.
  for (const m of [50, 22, 29, 3, 257, 80]) {
    await expectClose({ batch: [], m, k: 1023, n: 65, bias: 'f32', activation: 'gelu', scale: 0.5 }, `default M=${m}`);
  }
  const gpu = await testGpu();
  // subgroup64x16 by default on lavapipe: 257 = 256 + 1 (register4x16 tail), 80 = 64 + 16 (subgroup16x16
  // tail), 50 and 40 one block (40 = 32 + 8 would be a tail of a 32-row block, not of this one).
  if (defaultVariantName(gpu, 257) === 'subgroup64x16') {
    const w = gpu.upload(new Float32Array(8 * 4), [8, 4]);
    const variantsRun = (m: number) => {
      const x = gpu.upload(new Float32Array(m * 4), [m, 4]);
      const labels = gpu.plan(() => void linear(x, w)).map((r) => r.label.split('.')[1]);
      x.release();
      return labels.join('+');
    };
    assert.equal([257, 80, 50, 40].map(variantsRun), ['subgroup64x16+register4x16', 'subgroup64x16+subgroup16x16', 'subgroup64x16', 'subgroup64x16']);
  }
  if (chosenVariantName(gpu) === 'register16x16') {
    const w = gpu.upload(new Float32Array(8 * 4), [8, 4]);
    const dispatches = (m: number) => {
      const before = gpu.dispatchCount;
      const x = gpu.upload(new Float32Array(m * 4), [m, 4]);
      linear(x, w).release();
      x.release();
      return gpu.dispatchCount - before;
    };
    assert.equal([50, 22, 29, 3, 48].map(dispatches), [2, 2, 1, 1, 1]);
    await gpu.sync();
  }
});

timed('the 16-column tail blocks (register4x16, register8x16) match at B/32 and L/14 row counts', async () => {
  // M = 50 and 257 leave 2 and 1 rows past the 16-row blocks; N = 72 and 40 end inside a 16-column block.
  for (const variant of ['register4x16', 'register8x16']) {
    for (const [m, n] of [[50, 72], [257, 40], [6, 17]] as const) {
      await expectClose({ batch: [], m, k: 132, n, variant, bias: 'f32', activation: 'quick_gelu' }, `${variant} M=${m} N=${n}`);
    }
  }
});

timed('batch dimensions are kept and rows past 65,535 workgroups fold into z', async () => {
  // naive: 16 rows per workgroup, so 1.1M rows need more than 65,535 workgroups along y.
  await expectClose({ batch: [2, 5], m: 110_000, k: 1, n: 1, variant: 'naive' }, 'naive folded');
  await expectClose({ batch: [2, 1, 3], m: 5, k: 8, n: 6 }, 'rank 5');
});

timed('out= writes into the given tensor; a 1-D x is one row', async () => {
  const gpu = await testGpu();
  const x = randomArray(8, 1);
  const w = randomArray(3 * 8, 2);
  const out = gpu.empty([3]);
  const y = linear(gpu.upload(x, [8]), gpu.upload(w, [3, 8]), { out });
  assert.ok(y === out);
  assert.ok(relativeError(await out.read(), linearReference(x, [8], w, [3, 8])) <= 1e-6);
});

timed('residual= adds after the activation, in every variant, with tails and split tails; the reference adds in float64', async () => {
  const gpu = await testGpu();
  const [m, k, n] = [50, 68, 37];
  const x = randomArray(m * k, 3, 2);
  const w = randomArray(n * k, 4, 1 / Math.sqrt(k));
  const b = randomArray(n, 5);
  const skip = randomArray(m * n, 6, 10);
  const product = linearReference(x, [m, k], w, [n, k], b, 'gelu');
  const expected = product.map((v, i) => v + skip[i]!);
  const [xT, wT, bT, skipT] = [gpu.upload(x, [m, k]), gpu.upload(w, [n, k]), gpu.upload(b, [n]), gpu.upload(skip, [m, n])];
  for (const variant of [undefined, ...variants]) {
    const y = linear(xT, wT, { bias: bT, activation: 'gelu', residual: skipT, variant, splitTail: true });
    const error = relativeError(await y.read(), expected);
    assert.ok(error <= 1e-6, `${variant ?? 'default'}: relative error ${error.toExponential(2)}`);
    y.release();
  }
  // The residual is left alone, and without it nothing is added.
  assert.equal([...(await skipT.read())], [...skip]);
  assert.ok(relativeError(await linear(xT, wT, { bias: bT, activation: 'gelu' }).read(), product) <= 1e-5);
  throwsShape(() => linear(xT, wT, { residual: gpu.empty([m, n + 1]) }), /residual \[50, 38\]:f32 must be f32 with the output's \[50, 37\]/);
  throwsShape(() => linear(xT, wT, { residual: skipT, out: skipT }), /out \[50, 37\] is the residual's buffer/);
  for (const t of [xT, wT, bT, skipT]) t.release();
});

function throwsShape(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: Error) => e instanceof ShapeError && pattern.test(e.message));
}

timed('bad input throws ShapeError naming the shapes', async () => {
  const gpu = await testGpu();
  const x = gpu.upload(new Float32Array(2 * 3 * 8), [2, 3, 8]);
  const w = gpu.upload(new Float32Array(4 * 8), [4, 8]);
  throwsShape(() => linear(x, gpu.upload(new Float32Array(4 * 7), [4, 7])), /\[2, 3, 8\].*\[4, 7\]/);
  throwsShape(() => linear(x, w, { bias: gpu.upload(new Float32Array(5), [5]) }), /bias must be \[4\].*bias \[5\]/);
  throwsShape(() => linear(x, w, { bias: gpu.upload(new Float32Array(4), [2, 2]) }), /bias \[2, 2\]/);
  throwsShape(() => linear(new Tensor(gpu, x.buffer, [0, 3, 8]), w), /empty.*\[0, 3, 8\]/);
  throwsShape(() => linear(gpu.upload(new Uint16Array(24), [3, 8], 'f16'), w), /x must be f32.*\[3, 8\]:f16/);
  throwsShape(() => linear(x, gpu.upload(new Uint32Array(32), [4, 8], 'u32')), /weight must be f32 or f16.*\[4, 8\]:u32/);
  throwsShape(() => linear(x, gpu.upload(new Float32Array(8), [8])), /weight must be \[N, K\].*weight \[8\]/);
  throwsShape(() => linear(x, w, { out: gpu.empty([2, 3, 5]) }), /out \[2, 3, 5\].*\[2, 3, 4\]/);
  throwsShape(() => linear(x, w, { variant: 'fastest' }), /unknown variant "fastest"/);
  throwsShape(() => linear(x, w, { activation: 'tanh' as Activation }), /unknown activation "tanh"/);
  throwsShape(() => linear(x, w, { activation: 'toString' as Activation }), /unknown activation "toString"/);
  throwsShape(() => linear(x, w, { out: new Tensor(gpu, x.buffer, [2, 3, 4]) }), /shares its buffer/);
  // 32768 rows × 16384 outputs is 2 GiB of f32: more than any adapter binds, while x and w are small.
  const tall = gpu.upload(new Float32Array(32768 * 4), [32768, 4]);
  const wide = gpu.upload(new Float32Array(16384 * 4), [16384, 4]);
  throwsShape(() => linear(tall, wide), /output \[32768, 16384\].*needs 2147483648 bytes/);
  await gpu.sync();
});

timed('autotune picks and remembers a variant per adapter; forcing overrides it', async () => {
  const gpu = await testGpu();
  const before = chosenVariantName(gpu);
  const { name, ms } = await autotuneGemm(gpu, { m: 32, k: 64, n: 32, candidates: ['register4x4', 'register8x8'] });
  assert.ok(name === 'register4x4' || name === 'register8x8');
  assert.equal(Object.keys(ms).sort(), ['register4x4', 'register8x8']);
  assert.is(chosenVariantName(gpu), name);
  forceGemmVariant(gpu, 'naive');
  assert.is(chosenVariantName(gpu), 'naive');
  await expectClose({ batch: [], m: 5, k: 6, n: 7 }, 'forced naive');
  forceGemmVariant(gpu, null);
  assert.is(chosenVariantName(gpu), name);
  throwsShape(() => forceGemmVariant(gpu, 'nope'), /unknown variant/);
  assert.is(before, defaultVariantName(gpu));
  // The default table per adapter class: register blocks on SwiftShader, the subgroup kernels on lavapipe
  // (register16x16w8 without 8-lane subgroups), workgroup-memory tiles on hardware.
  const adapter = (name: string, isSoftware: boolean, subgroupMinSize: number) =>
    ({ adapterName: name, adapter: { info: { description: name } }, isSoftware, subgroupsOfAtLeast: (lanes: number) => subgroupMinSize >= lanes && subgroupMinSize > 0 }) as unknown as Gpu;
  assert.is(defaultVariantName(adapter('SwiftShader Device (Subzero)', true, 4)), 'register16x16');
  assert.is(defaultVariantName(adapter('mesa software llvmpipe: Mesa 25.0.7', true, 8)), 'subgroup64x16');
  assert.is(defaultVariantName(adapter('mesa software llvmpipe: Mesa 25.0.7', true, 8), 20), 'subgroup32x16');
  assert.is(defaultVariantName(adapter('mesa software llvmpipe: Mesa 25.0.7', true, 8), 16), 'subgroup16x16');
  assert.is(defaultVariantName(adapter('lavapipe (Mesa 25.0.7, LLVM 15.0.6)', true, 8), 1), 'register4x4');
  assert.is(defaultVariantName(adapter('lavapipe (Mesa 25.0.7, LLVM 15.0.6)', true, 8), 50), 'subgroup64x16');
  assert.is(defaultVariantName(adapter('lavapipe (Mesa 25.0.7, LLVM 15.0.6)', true, 8), 257), 'subgroup64x16');
  assert.is(defaultVariantName(adapter('mesa software llvmpipe: Mesa 25.0.7', true, 0)), 'register16x16w8');
  assert.is(defaultVariantName(adapter('nvidia ampere', false, 32)), 'tiled64x64');
  assert.not.ok(gemmVariantRuns(adapter('SwiftShader Device (Subzero)', true, 4), gemmVariant('subgroup16x16')));
});

timed('gemmFlops counts a multiply and an add per term', () => {
  assert.is(gemmFlops(256, 1024, 1024), 2 * 256 * 1024 * 1024);
  assert.is(gemmFlops(50, 768, 2304, 4), 4 * 2 * 50 * 768 * 2304);
});

test.run();
