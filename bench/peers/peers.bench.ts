// geolens beside what a performance engineer would use instead, on the same graph, adapter and machine, in
// one run:
//
//   npm run bench:peers [-- --quick] [-- --no-l14]
//   (= node build.mjs --bench peers && node .build/bench/peers/peers.bench.mjs ...)
//
// Systems: geolens in Node (Dawn) on every device it finds (a hardware GPU, lavapipe, SwiftShader: one
// child process each, bench/peers/node-device.ts) and in headless Chromium (navigator.gpu, Chromium's own
// SwiftShader), onnxruntime-web's WebGPU EP and wasm EP (1 thread) in headless Chromium on that same
// adapter, onnxruntime-node's CPU EP. `--devices=lavapipe,swiftshader` names the Node devices.
// Graphs and weights come from scripts/bench/peer_models.py (run here when bench/generated/ lacks them).
// Calls go round the systems in turn (A, B, C, A, B, C, ...) so a burst of load from other processes on
// the machine lands on all of them rather than on one system's whole series.
//
// Suites: (0) each geolens device's ceilings (FMA GFLOPS and copy GB/s, src/kernels/ceiling.ts), which
// every geolens figure below is also given as a fraction of; (1) image embedding (CLIP ViT + GeoCLIP image MLP + normalize) B/32 and L/14, cold (device or
// session creation, weight loading, compiles, first image) and warm; (2) GEMM and attention at ViT shapes
// against one-op ORT graphs; (3) gallery search against MatMul + TopK, with a copy kernel's bandwidth as
// the copy ceiling as the practical roofline; (4) location-encoder points/s.
//
// Writes bench/results/peers.json, and from it bench/RESULTS.md, bench/results/peers.svg (report.ts) and
// the performance table in README.md (readme.ts); --quick writes the -quick files and leaves README alone.
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import * as ortNode from 'onnxruntime-node';
import type * as Ort from 'onnxruntime-common';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS } from '../../test/support/browser.js';
import { CLIP_VISION_PRESETS, clipVisionFlops, type ClipVisionConfig } from '../../src/model/clip/vision.js';
import { listAdapters } from '../../src/runtime/index.js';
import type { CeilingFigures } from './geolens-work.js';
import { OrtWork } from './ort-work.js';
import { updateReadme } from './readme.js';
import { agreement, writeReport, type AdapterInfo, type PeerResults, type Measurement } from './report.js';

type EmbedRun = { ms: number; value: number; embedding: number[] };
import { startPeerServer } from './server.js';

const args = new Set(process.argv.slice(2));
const OUT_DIR = resolve('bench', 'results');
const reportOnly = process.argv.find((a) => a.startsWith('--report='))?.slice('--report='.length);
if (reportOnly) {
  // Rewrites RESULTS.md and the chart from a saved JSON (after a change to report.ts).
  const saved = JSON.parse(readFileSync(reportOnly, 'utf8')) as PeerResults;
  writeOutputs(saved);
  process.exit(0);
}

function writeOutputs(r: PeerResults): void {
  mkdirSync(OUT_DIR, { recursive: true });
  const stem = r.quick ? 'peers-quick' : 'peers';
  writeFileSync(join(OUT_DIR, `${stem}.json`), JSON.stringify(r, null, 2) + '\n');
  writeReport(r, {
    markdown: r.quick ? join(OUT_DIR, 'RESULTS-quick.md') : resolve('bench', 'RESULTS.md'),
    svg: join(OUT_DIR, `${stem}.svg`),
    svgLink: r.quick ? `${stem}.svg` : `results/${stem}.svg`,
  });
  if (!r.quick) updateReadme(r, resolve('README.md'));
}
const quick = args.has('--quick');
const withL14 = !args.has('--no-l14');
const ROOT = resolve('.');
const GENERATED = join(ROOT, 'bench', 'generated');
const PAGES = join(process.env.GEOLENS_BUILD_DIR || '.build', 'bench', 'peers', 'pages');
const started = Date.now();
/** ORT-web WebGPU on SwiftShader runs ViT-L/14 for many minutes: one cold run, stopped here. */
const L14_WEBGPU_CAP_S = 150;

function log(line: string): void {
  console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`);
}

// ---------------------------------------------------------------------------------------------------
// Models

const models = withL14 && !quick ? ['b32', 'l14'] : ['b32'];
const python = spawnSync('/usr/bin/python3', ['scripts/bench/peer_models.py', '--models', models.join(','), '--ops', '--location'], { stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
if (python.status !== 0) {
  console.error(python.stderr.split('\n').filter((l) => !/Warning|warn/.test(l)).slice(-15).join('\n'));
  throw new Error('scripts/bench/peer_models.py failed (Debian /usr/bin/python3 with torch is needed)');
}

function readSafetensors(path: string): Record<string, Float32Array> {
  const bytes = readFileSync(path);
  const length = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + length).toString()) as Record<string, { data_offsets: [number, number] }>;
  const out: Record<string, Float32Array> = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [from, to] = info.data_offsets;
    out[name] = new Float32Array(bytes.buffer.slice(bytes.byteOffset + 8 + length + from, bytes.byteOffset + 8 + length + to));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Systems: one call interface for in-process and in-page work

interface System {
  name: string;
  call<T>(fn: string, ...args: unknown[]): Promise<T>;
  /** A fresh process-level state (new browser: no compiled pipelines or shader caches). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** geolens in a child process on one adapter (GEOLENS_ADAPTER): started on first call, ended by close(). */
function deviceSystem(name: string, adapter: string): System {
  let child: ChildProcess | null = null;
  let ready: Promise<void> | null = null;
  let nextId = 0;
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const start = () => {
    const process_ = fork(NODE_DEVICE, [], { env: { ...process.env, GEOLENS_ADAPTER: adapter, GEOLENS_QUIET: '1' }, execArgv: ['--enable-source-maps'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child = process_;
    ready = new Promise((resolve, reject) => {
      process_.on('message', (m: { ready?: boolean; id?: number; result?: unknown; error?: string }) => {
        if (m.ready) return resolve();
        const entry = waiting.get(m.id!);
        waiting.delete(m.id!);
        if (m.error !== undefined) entry?.reject(new Error(m.error));
        else entry?.resolve(m.result);
      });
      process_.on('exit', (code, signal) => {
        const error = new Error(`${name}: its process ended (${signal ?? `exit code ${code}`})`);
        reject(error);
        for (const entry of waiting.values()) entry.reject(error);
        waiting.clear();
        if (child === process_) child = null;
      });
    });
  };
  const system: System = {
    name,
    async call<T>(fn: string, ...a: unknown[]): Promise<T> {
      if (!child) start();
      await ready;
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
        child!.send({ id, fn, args: a });
      });
    },
    restart: async () => {},
    async close() {
      const c = child;
      child = null;
      if (c && c.exitCode === null) {
        const ended = new Promise((resolve) => c.once('exit', resolve));
        c.kill('SIGKILL');
        await ended;
      }
    },
  };
  return system;
}

function nodeSystem(name: string, target: Record<string, unknown>): System {
  return {
    name,
    call: async <T,>(fn: string, ...a: unknown[]) => (await (target[fn] as (...x: unknown[]) => unknown).apply(target, a)) as T,
    restart: async () => {},
    close: async () => {},
  };
}

await build({
  bundle: true, format: 'esm', target: 'es2022', platform: 'browser', loader: { '.wgsl': 'text' }, logLevel: 'warning',
  entryPoints: { geolens: 'bench/peers/geolens.page.ts', ort: 'bench/peers/ort.page.ts' },
  outdir: PAGES, external: ['webgpu', 'node:*', 'sharp', '/ort/*'],
});
const NODE_DEVICE = join(PAGES, '..', 'node-device.mjs');
await build({
  bundle: true, format: 'esm', target: 'es2022', platform: 'node', loader: { '.wgsl': 'text' }, logLevel: 'warning', sourcemap: true,
  entryPoints: ['bench/peers/node-device.ts'], outfile: NODE_DEVICE, packages: 'external',
});
const page = (script: string) => `<!doctype html><meta charset="utf-8"><script type="module" src="/pages/${script}.js"></script>`;
const server = await startPeerServer(
  { '/pages/': PAGES, '/ort/': join(ROOT, 'node_modules', 'onnxruntime-web', 'dist'), '/models/': GENERATED },
  { '/geolens.html': page('geolens'), '/ort.html': page('ort') },
);

function browserSystem(name: string, path: string): System {
  let browser: Browser | null = null;
  let tab: Page | null = null;
  const errors: string[] = [];
  const open = async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    tab = await browser.newPage();
    tab.on('pageerror', (e) => errors.push(e.message));
    await tab.goto(`${server.url}${path}`);
    await tab.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true, null, { timeout: 60_000 });
  };
  const system: System = {
    name,
    async call<T>(fn: string, ...a: unknown[]): Promise<T> {
      if (!tab) await open();
      try {
        return (await tab!.evaluate(async ([f, list]) => {
          const peer = (window as unknown as { peer: Record<string, (...x: unknown[]) => unknown> }).peer;
          return peer[f as string]!.apply(peer, list as unknown[]);
        }, [fn, a] as const)) as T;
      } catch (error) {
        throw new Error(`${name} ${fn}: ${(error as Error).message.split('\n')[0]}${errors.length ? ` (page: ${errors.at(-1)})` : ''}`);
      }
    },
    async restart() {
      await system.close();
      await open();
    },
    async close() {
      const b = browser as Browser | null;
      browser = null;
      tab = null;
      await b?.close().catch(() => {});
    },
  };
  return system;
}

// Dawn keeps the event loop alive, so a signal must end the process itself (browsers closed first).
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    console.error(`bench:peers: ${signal}, closing the browsers`);
    void Promise.allSettled([geolensBrowser, ortWebgpu, ortWasm, ...nodeDevices].map((s) => s.close())).then(() => process.exit(130));
  });
}

// The Node devices: hardware first, then lavapipe, then SwiftShader (listAdapters' order), or --devices=.
const deviceArg = process.argv.find((a) => a.startsWith('--devices='))?.slice('--devices='.length).split(',').filter(Boolean);
const found = (await listAdapters()).adapters;
const nodeChoices = deviceArg
  ? deviceArg.map((wanted) => found.find((a) => a.kind === wanted || a.name.toLowerCase().includes(wanted.toLowerCase())) ?? wanted)
  : found.filter((a) => a.kind !== 'software');
const nodeDevices = nodeChoices.map((a) => (typeof a === 'string' ? deviceSystem(`geolens node ${a}`, a) : deviceSystem(`geolens node ${a.kind === 'hardware' ? 'gpu' : a.kind}`, a.kind === 'hardware' ? a.name : a.kind)));
if (nodeDevices.length === 0) throw new Error('bench:peers: no WebGPU adapter in Node (`geolens info` says why)');
const isNodeDevice = (s: System) => nodeDevices.includes(s);
const geolensBrowser = browserSystem('geolens chromium', '/geolens.html');
const ortWebgpu = browserSystem('ort-web webgpu', '/ort.html?ep=webgpu');
const ortWasm = browserSystem('ort-web wasm', '/ort.html?ep=wasm&threads=1');
const ortCpu = nodeSystem('ort-node cpu', new OrtWork(ortNode as unknown as typeof Ort, 'cpu', cpus().length) as unknown as Record<string, unknown>);

/**
 * Seconds each suite may take (full run: 21.5 min at most with two Node devices; on a quiet 2-core
 * machine the suites end inside them, the whole command in about 17 min). A call gets what is left of its
 * suite's budget at most; once it is spent the suite's remaining calls are skipped and RESULTS.md says so.
 */
const BUDGET_S: Record<string, number> = quick
  ? { ceiling: 120, b32: 300, ops: 150, search: 90, location: 60, l14: 0 }
  : { ceiling: 150, b32: 420, ops: 240, search: 150, location: 90, l14: 240 };
let suiteEnd = Infinity;
let suiteName = '';
const skipped = new Map<string, number>();

function startSuite(name: string): void {
  suiteName = name;
  suiteEnd = Date.now() + BUDGET_S[name]! * 1000;
}

/** Runs `work` on a system; a failure or a time-out is recorded, not thrown. */
async function attempt<T>(system: System, what: string, work: () => Promise<T>, limitS?: number): Promise<{ result?: T; error?: string; capped?: boolean; skipped?: boolean; limitS?: number }> {
  const leftS = (suiteEnd - Date.now()) / 1000;
  if (leftS < 5) {
    skipped.set(suiteName, (skipped.get(suiteName) ?? 0) + 1);
    return { error: `skipped: the ${suiteName} suite's ${BUDGET_S[suiteName]} s budget was spent`, skipped: true };
  }
  limitS = Math.min(limitS ?? Infinity, leftS);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const limit = Number.isFinite(limitS)
      ? new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`capped at ${limitS!.toFixed(0)} s`)), limitS! * 1000)))
      : new Promise<never>(() => {});
    return { result: await Promise.race([work(), limit]) };
  } catch (error) {
    const message = (error as Error).message;
    log(`  ${system.name} ${what}: ${message}`);
    if (/capped at/.test(message)) {
      // A browser is closed (its GPU process would go on with the queued work); an in-process call
      // cannot be stopped and finishes in the background.
      await system.close();
      return { capped: true, error: message, limitS };
    }
    return { error: message };
  } finally {
    clearTimeout(timer);
  }
}

const results: PeerResults = {
  date: new Date().toISOString(),
  l14WebgpuCapS: L14_WEBGPU_CAP_S,
  loadAverage: [loadavg()[0]!],
  b32Flops: clipVisionFlops(CLIP_VISION_PRESETS['ViT-B/32']),
  quick,
  machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '?', memoryGiB: Math.round(totalmem() / 2 ** 30) },
  adapter: null as unknown as AdapterInfo,
  nodeDevices: [],
  ceilings: {},
  browserAdapter: null,
  dtype: 'f32',
  wasmThreads: 1,
  measurements: [],
  notes: [],
};

function record(m: Measurement): void {
  if (m.error?.startsWith('skipped')) return;
  results.measurements.push(m);
  // Saved as it goes, so a run stopped half-way still leaves its figures (rerun with --report=).
  mkdirSync(OUT_DIR, { recursive: true });
  writeFileSync(join(GENERATED, `${quick ? 'peers-quick' : 'peers'}.partial.json`), JSON.stringify(results, null, 2) + '\n');
  const shown = m.ms === undefined ? (m.error ?? '?') : `${m.ms.toFixed(1)} ms${m.capped ? ' (capped)' : ''}`;
  log(`${m.suite} ${m.case} ${m.system} ${m.phase ?? ''}: ${shown}${m.value !== undefined ? `  value ${m.value.toFixed(6)}` : ''}${m.agreement ? `  max |Δ| ${m.agreement.maxAbsDiff.toExponential(1)} cos ${m.agreement.cosine.toFixed(6)} over ${m.agreement.elements}` : ''}`);
}

// ---------------------------------------------------------------------------------------------------
// (1) image embedding

const MODEL_NAMES: Record<string, keyof typeof CLIP_VISION_PRESETS> = { b32: 'ViT-B/32', l14: 'ViT-L/14' };

async function embeddingSuite(key: string): Promise<void> {
  const folder = join(GENERATED, `vit-${key}`);
  const config = JSON.parse(readFileSync(join(folder, 'config.json'), 'utf8')) as ClipVisionConfig;
  const expected = readSafetensors(join(folder, 'expected.safetensors'));
  const pixels = Array.from(expected.pixels!);
  const caseName = `${MODEL_NAMES[key]} + MLP`;
  const flops = clipVisionFlops(config) + 2 * 768 * 768 + 2 * 768 * 512;
  const big = key === 'l14';
  const systems = big ? [ortCpu, ...nodeDevices, ortWasm, geolensBrowser, ortWebgpu] : [...nodeDevices, ortCpu, geolensBrowser, ortWasm, ortWebgpu];
  const colds = big || quick ? 1 : 2;
  const warms = big || quick ? 1 : 3;
  const base = (s: System) => (isNodeDevice(s) ? folder : `${server.url}/models/vit-${key}`);
  const onnx = (s: System) => (s === ortCpu ? join(folder, 'model.onnx') : `${server.url}/models/vit-${key}/model.onnx`);
  const isOrt = (s: System) => s === ortCpu || s === ortWasm || s === ortWebgpu;
  const want = expected.embedding!;
  const entry = (s: System, phase: string, r: { result?: { ms: number; value?: number; embedding?: number[] }; error?: string; capped?: boolean; limitS?: number }) =>
    record({
      suite: 'embedding', case: caseName, system: s.name, phase, ms: r.result?.ms ?? (r.capped ? r.limitS! * 1000 : undefined), capped: r.capped, error: r.capped ? undefined : r.error,
      value: r.result?.value, expected: want[0], flops,
      agreement: r.result ? agreement(r.result.embedding ?? [], want) : undefined,
    });

  const live = new Set<System>();
  const coldRun = async (s: System) => {
    // L/14 on ORT-web's WebGPU EP: one capped cold run in its own browser, closed afterwards.
    const cap = s !== ortWebgpu ? undefined : big ? L14_WEBGPU_CAP_S : quick ? 120 : 150;
    if ((suiteEnd - Date.now()) / 1000 < 5) {
      skipped.set(suiteName, (skipped.get(suiteName) ?? 0) + 1);
      return;
    }
    await s.restart();
    if (isNodeDevice(s) || s === ortCpu) await s.call('embedRelease', key);
    const r = await attempt(s, `${key} cold`, () => isOrt(s) ? s.call<EmbedRun>('embedCold', key, onnx(s), pixels)
      : s.call<EmbedRun>('embedCold', key, base(s), config, pixels), cap);
    entry(s, 'cold', r);
    if (r.result && !(big && s === ortWebgpu)) live.add(s);
  };
  const warmRun = async (s: System) => {
    if (!live.has(s)) return;
    // ORT-web WebGPU B/32 takes ~45 s a run on SwiftShader: fewer warm runs than the rest.
    entry(s, 'warm', await attempt(s, `${key} warm`, () => s.call<EmbedRun>('embedWarm', key), s === ortWebgpu ? 150 : undefined));
  };
  const release = async (s: System) => {
    live.delete(s);
    if (isNodeDevice(s) || s === ortCpu) await s.call('embedRelease', key).catch(() => {});
    else await s.close();
  };

  if (big) {
    // ViT-L/14 is 1.2 GB per system: one system holds it at a time.
    for (const s of systems) {
      await coldRun(s);
      await warmRun(s);
      await release(s);
    }
    return;
  }
  // Cold round, warm rounds, then further cold rounds while the budget lasts: warm figures (what a
  // loaded model costs per image) matter most and come first. ORT-web's WebGPU EP, minutes a run here,
  // goes after the others' warm rounds so it cannot starve them. A further cold run restarts the system.
  const fast = systems.filter((s) => s !== ortWebgpu);
  for (const s of fast) await coldRun(s);
  for (let w = 0; w < warms; w++) for (const s of fast) await warmRun(s);
  await coldRun(ortWebgpu);
  if (!quick) await warmRun(ortWebgpu);
  await release(ortWebgpu);
  for (let c = 1; c < colds; c++) for (const s of fast) await coldRun(s);
  for (const s of systems) await release(s);
}

// ---------------------------------------------------------------------------------------------------
// (2) GEMM and attention, (3) search, (4) location encoder

const GEMMS: [number, number, number][] = [[50, 768, 2304], [50, 768, 3072], [50, 3072, 768], [257, 1024, 3072], [257, 1024, 4096], [257, 4096, 1024]];
const ATTENTIONS: [number, number][] = [[12, 50], [16, 257]];

async function opsSuite(): Promise<void> {
  const url = (file: string, s: System) => (s === ortCpu ? join(GENERATED, 'ops', file) : `${server.url}/models/ops/${file}`);
  const systems = [...nodeDevices, geolensBrowser, ortWebgpu, ortWasm, ortCpu];
  const rounds = quick ? 1 : 2;
  type Op = { suite: 'gemm'; m: number; k: number; n: number } | { suite: 'attention'; heads: number; seq: number };
  const gemm = ([m, k, n]: [number, number, number]): Op => ({ suite: 'gemm', m, k, n });
  const attend = ([heads, seq]: [number, number]): Op => ({ suite: 'attention', heads, seq });
  // B/32's kernels first, then L/14's: a budget that runs out leaves whole models measured.
  const ops: Op[] = quick ? [gemm(GEMMS[0]!), attend(ATTENTIONS[0]!)]
    : [...GEMMS.slice(0, 3).map(gemm), attend(ATTENTIONS[0]!), ...GEMMS.slice(3).map(gemm), attend(ATTENTIONS[1]!)];
  let webgpuCapped = false;
  for (const op of ops) {
    for (let r = 0; r < rounds; r++) {
      for (const s of systems) {
        // ORT-web's WebGPU EP takes seconds a MatMul here, plus its session set-up: one round, one timed
        // call after the warm-up, 60 s at most, and none after a call has hit that cap.
        if (s === ortWebgpu && (r > 0 || webgpuCapped)) continue;
        const repeats = s === ortWebgpu ? 1 : op.suite === 'gemm' && op.m > 100 ? 2 : 3;
        const isGeolens = isNodeDevice(s) || s === geolensBrowser;
        const run = op.suite === 'gemm'
          ? await attempt(s, `gemm ${op.m}x${op.k}x${op.n}`, () => isGeolens ? s.call<{ ms: number; cpuMs?: number }>('gemm', op.m, op.k, op.n, repeats)
            : s.call<{ ms: number }>('gemm', url(`matmul-${op.m}-${op.k}-${op.n}.onnx`, s), op.m, op.k, repeats), s === ortWebgpu ? 60 : 240)
          : await attempt(s, `attention ${op.heads}x${op.seq}`, () => isGeolens ? s.call<{ ms: number; cpuMs?: number }>('attend', op.heads, op.seq, repeats)
            : s.call<{ ms: number }>('attend', url(`attention-${op.heads}-${op.seq}.onnx`, s), op.heads, op.seq, repeats), s === ortWebgpu ? 60 : 240);
        if (s === ortWebgpu && run.capped) webgpuCapped = true;
        const common = { system: s.name, ms: run.result?.ms, cpuMs: (run.result as { cpuMs?: number } | undefined)?.cpuMs, error: run.error, capped: run.capped };
        record(op.suite === 'gemm'
          ? { suite: 'gemm', case: `${op.m}×${op.k}×${op.n}`, flops: 2 * op.m * op.k * op.n, ...common }
          : { suite: 'attention', case: `heads ${op.heads} × seq ${op.seq}`, flops: 4 * op.seq * op.seq * 64 * op.heads, ...common });
      }
    }
  }
}

async function searchSuite(): Promise<void> {
  const file = (s: System) => (s === ortCpu ? join(GENERATED, 'ops', 'search-512-5.onnx') : `${server.url}/models/ops/search-512-5.onnx`);
  let webgpuCapped = false;
  for (const rows of quick ? [100_000] : [100_000, 1_000_000]) {
    // A million rows is 2 GB of f32: only the systems that can hold it without a second copy in a page.
    const systems = rows > 100_000 ? [...nodeDevices, ortCpu, ortWebgpu] : [...nodeDevices, geolensBrowser, ortCpu, ortWebgpu];
    for (const queries of quick ? [1] : [1, 32]) {
      for (const s of systems) {
        // ORT-web's WebGPU TopK over 100k rows ran past 5 minutes on SwiftShader: last, capped, and not
        // tried again once capped.
        if (s === ortWebgpu && webgpuCapped) continue;
        const cap = s === ortWebgpu ? (quick ? 45 : 60) : 240;
        const repeats = queries > 1 || s === ortWebgpu ? 1 : 3;
        const run = await attempt(s, `search ${rows}x${queries}`, () => isNodeDevice(s) || s === geolensBrowser
          ? s.call<{ ms: number; best: number }>('search', rows, queries, repeats) : s.call<{ ms: number; best: number }>('search', file(s), rows, queries, repeats), cap);
        // 32 queries cost it at least as much as one: a single query past half the cap would only spend the
        // suite's budget on a capped call, and starve the million-row cases after it.
        if (s === ortWebgpu && (run.capped || (run.result?.ms ?? 0) > (cap * 1000) / 2)) webgpuCapped = true;
        record({ suite: 'search', case: `${rows / 1000}k × 512, ${queries} ${queries === 1 ? 'query' : 'queries'}`, system: s.name, ms: run.result?.ms, error: run.error, capped: run.capped,
          bytes: rows * 512 * 4, value: run.result?.best });
      }
    }
    await ortWebgpu.close(); // frees its 2 GB gallery with the GPU process
    await geolensBrowser.close();
  }
}

async function locationSuite(): Promise<void> {
  const points = quick ? 128 : 512;
  const systems = [...nodeDevices, ortCpu, ortWasm, ortWebgpu];
  for (let r = 0; r < (quick ? 1 : 2); r++) {
    for (const s of systems) {
      if (s === ortWebgpu && r > 0) continue;
      const run = await attempt(s, 'location', () => isNodeDevice(s) ? s.call<{ ms: number; value: number; flops: number }>('locate', join(GENERATED, 'location'), points, 1)
        : s.call<{ ms: number; value: number }>('locate', s === ortCpu ? join(GENERATED, 'location', 'model.onnx') : `${server.url}/models/location/model.onnx`, points, 1), s === ortWebgpu ? 45 : 120);
      record({ suite: 'location', case: `${points} points`, system: s.name, ms: run.result?.ms, error: run.error, capped: run.capped, points, value: run.result?.value,
        flops: (run.result as { flops?: number } | undefined)?.flops });
    }
  }
}

/** (0) Each geolens device's adapter and ceilings, before anything else loads the machine's memory. */
async function ceilingSuite(): Promise<void> {
  for (const s of nodeDevices) {
    const info = await attempt(s, 'adapter', () => s.call<AdapterInfo>('adapter'));
    if (!info.result) throw new Error(`${s.name}: no adapter (${info.error})`);
    results.nodeDevices!.push({ system: s.name, adapter: info.result });
  }
  results.adapter = results.nodeDevices![0]!.adapter;
  results.browserAdapter = await attempt(geolensBrowser, 'adapter', () => geolensBrowser.call<AdapterInfo>('adapter')).then((r) => r.result ?? null);
  log(`adapters: ${results.nodeDevices!.map((d) => `${d.adapter.name} (${d.system})`).join(', ')}, ${results.browserAdapter?.name ?? '?'} (chromium)`);
  for (const s of [...nodeDevices, geolensBrowser]) {
    const c = await attempt(s, 'ceiling', () => s.call<CeilingFigures>('ceiling', quick), 120);
    if (c.result) {
      results.ceilings![s.name] = c.result;
      log(`ceiling ${s.name}: FMA ${c.result.fmaGflops.toFixed(1)} GFLOPS, copy ${c.result.copyGBps.toFixed(2)} GB/s (${c.result.seconds.toFixed(1)} s)`);
    }
  }
}

try {
  startSuite('ceiling');
  await ceilingSuite();
  startSuite('b32');
  await embeddingSuite('b32');
  startSuite('ops');
  await opsSuite();
  startSuite('search');
  await searchSuite();
  startSuite('location');
  await locationSuite();
  // Last: the biggest and the one most likely to hit its budget.
  if (models.includes('l14')) {
    startSuite('l14');
    await embeddingSuite('l14');
  } else {
    results.notes.push('ViT-L/14 was not run (--quick or --no-l14).');
  }
  for (const [suite, count] of skipped) results.notes.push(`${count} call(s) of the ${suite} suite were skipped: its ${BUDGET_S[suite]} s budget was spent (the machine was busy).`);
} finally {
  for (const s of [geolensBrowser, ortWebgpu, ortWasm, ...nodeDevices]) await s.close();
  await server.close();
}
results.durationS = (Date.now() - started) / 1000;
results.loadAverage!.push(loadavg()[0]!);
writeOutputs(results);
log(`wrote bench/results/${quick ? 'peers-quick' : 'peers'}.{json,svg} and ${quick ? 'bench/results/RESULTS-quick.md' : 'bench/RESULTS.md'}`);
process.exit(0);
