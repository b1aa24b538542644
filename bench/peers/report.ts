// Turns the peer benchmark's JSON into bench/RESULTS.md and an SVG chart of geolens-to-peer ratios.
// Every figure is the median of the calls a system made in the run; a ratio is peer ms / geolens ms
// (above 1: geolens is faster), always from the same run.
import { writeFileSync } from 'node:fs';
import type { CeilingFigures } from './geolens-work.js';

export interface Measurement {
  suite: 'embedding' | 'gemm' | 'attention' | 'search' | 'copy' | 'location';
  case: string;
  system: string;
  phase?: string;
  ms?: number;
  /** The run hit its time limit: ms is that limit, a lower bound. */
  capped?: boolean;
  error?: string;
  /** embedding[0], the best row, or a location embedding value: what must agree across systems. */
  value?: number;
  expected?: number;
  /** An embedding run against PyTorch's embedding, over every element: cosine and the largest |difference|. */
  agreement?: Agreement;
  flops?: number;
  bytes?: number;
  points?: number;
  /** Process CPU ms per call, geolens in Node only. */
  cpuMs?: number;
}

export interface Agreement {
  cosine: number;
  maxAbsDiff: number;
  elements: number;
}

/**
 * How closely `actual` matches `expected`, element by element. A length mismatch is no agreement at all
 * (cosine NaN, difference Infinity), never a comparison of the common prefix.
 */
export function agreement(actual: ArrayLike<number>, expected: ArrayLike<number>): Agreement {
  if (actual.length !== expected.length || expected.length === 0) return { cosine: NaN, maxAbsDiff: Infinity, elements: actual.length };
  let dot = 0;
  let aa = 0;
  let ee = 0;
  let maxAbsDiff = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    dot += a * e;
    aa += a * a;
    ee += e * e;
    // NaN never compares greater, so it is carried explicitly.
    const d = Math.abs(a - e);
    if (!(d <= maxAbsDiff)) maxAbsDiff = Number.isNaN(d) ? Infinity : d;
  }
  return { cosine: dot / Math.sqrt(aa * ee), maxAbsDiff, elements: expected.length };
}

export interface AdapterInfo {
  name: string;
  software: boolean;
  features: string[];
  limits: Record<string, number>;
}


export interface PeerResults {
  date: string;
  quick: boolean;
  machine: { cpus: number; cpuModel: string; memoryGiB: number };
  /** The first Node device's adapter (older runs had only this one, as system 'geolens node'). */
  adapter: AdapterInfo;
  /** Every Node device, best first, each its own system ('geolens node lavapipe', ...). */
  nodeDevices?: { system: string; adapter: AdapterInfo }[];
  /** Ceilings by system name (Node devices and 'geolens chromium'). */
  ceilings?: Record<string, CeilingFigures>;
  browserAdapter: AdapterInfo | null;
  dtype: string;
  wasmThreads: number;
  measurements: Measurement[];
  notes: string[];
  durationS?: number;
  /** 1-minute load average at the start and the end. */
  loadAverage?: number[];
  l14WebgpuCapS?: number;
  b32Flops?: number;
}

const GEOLENS_BROWSER = 'geolens chromium';
const PEERS = ['ort-web webgpu', 'ort-web wasm', 'ort-node cpu'];
/** The geolens systems in Node, best device first (set per report from the results). */
let NODE_SYSTEMS = ['geolens node'];
/** The Node system peers in Node are held against: the first (best) device. */
let GEOLENS = 'geolens node';
let SYSTEMS = [...NODE_SYSTEMS, GEOLENS_BROWSER, ...PEERS];
let CEILINGS: Record<string, CeilingFigures> = {};

function useSystems(results: PeerResults): void {
  NODE_SYSTEMS = results.nodeDevices?.map((d) => d.system) ?? ['geolens node'];
  GEOLENS = NODE_SYSTEMS[0]!;
  SYSTEMS = [...NODE_SYSTEMS, GEOLENS_BROWSER, ...PEERS];
  CEILINGS = results.ceilings ?? {};
}

/** " (23%)": a geolens system's rate as a fraction of its device's FMA or copy ceiling; '' where unknown. */
function ofCeiling(system: string, bound: 'fma' | 'copy', rate: number | undefined): string {
  const c = CEILINGS[system];
  const top = c ? (bound === 'fma' ? c.fmaGflops : c.copyGBps) : undefined;
  if (!top || rate === undefined || !Number.isFinite(rate)) return '';
  const f = rate / top;
  return ` (${(f * 100).toFixed(f < 0.1 ? 1 : 0)}%)`;
}
/**
 * Whose geolens figure a peer is set against: the onnxruntime-web EPs against geolens in the same
 * Chromium (same SwiftShader build and device), onnxruntime-node against geolens in Node. Chromium's
 * SwiftShader JITs with LLVM where Dawn's in Node uses Subzero, and the two differ by several times.
 */
function reference(row: Map<string, Cell>, peer: string): Cell | undefined {
  return peer.startsWith('ort-web') ? (row.get(GEOLENS_BROWSER) ?? row.get(GEOLENS)) : row.get(GEOLENS);
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

interface Cell {
  ms?: number;
  cpuMs?: number;
  capped: boolean;
  error?: string;
  values: number[];
  agreements: Agreement[];
  m: Measurement;
}

function cells(results: PeerResults, suite: Measurement['suite']): Map<string, Map<string, Cell>> {
  const byCase = new Map<string, Map<string, Measurement[]>>();
  for (const m of results.measurements.filter((x) => x.suite === suite)) {
    const key = m.phase ? `${m.case}|${m.phase}` : m.case;
    if (!byCase.has(key)) byCase.set(key, new Map());
    const bySystem = byCase.get(key)!;
    if (!bySystem.has(m.system)) bySystem.set(m.system, []);
    bySystem.get(m.system)!.push(m);
  }
  const out = new Map<string, Map<string, Cell>>();
  for (const [key, bySystem] of byCase) {
    const row = new Map<string, Cell>();
    for (const [system, list] of bySystem) {
      // A capped call counts as its limit: a lower bound on the peer's time.
      for (const m of list) {
        const cap = /capped at (\d+) s/.exec(m.error ?? '');
        if (m.ms === undefined && cap) Object.assign(m, { ms: Number(cap[1]) * 1000, capped: true });
      }
      const timed = list.filter((m) => m.ms !== undefined);
      row.set(system, {
        ms: timed.length ? median(timed.map((m) => m.ms!)) : undefined,
        cpuMs: list.some((m) => m.cpuMs !== undefined) ? median(list.filter((m) => m.cpuMs !== undefined).map((m) => m.cpuMs!)) : undefined,
        capped: timed.some((m) => m.capped),
        error: list.find((m) => m.error)?.error,
        values: list.filter((m) => m.value !== undefined).map((m) => m.value!),
        agreements: list.filter((m) => m.agreement !== undefined).map((m) => m.agreement!),
        m: list[0]!,
      });
    }
    out.set(key, row);
  }
  return out;
}

function ms(cell: Cell | undefined): string {
  if (!cell) return '–';
  if (cell.ms === undefined) return `failed: ${(cell.error ?? '?').slice(0, 60)}`;
  const t = cell.ms >= 10_000 ? `${(cell.ms / 1000).toFixed(1)} s` : cell.ms >= 100 ? `${cell.ms.toFixed(0)} ms` : `${cell.ms.toFixed(2)} ms`;
  return cell.capped ? `> ${t} (capped)` : t;
}

/** peer / geolens: > 1 means geolens is faster. A capped peer gives a lower bound. */
function ratio(geolens: Cell | undefined, peer: Cell | undefined): { text: string; value?: number } {
  if (!geolens?.ms || !peer?.ms) return { text: '–' };
  const value = peer.ms / geolens.ms;
  return { text: `${peer.capped ? '> ' : ''}${value >= 10 ? value.toFixed(0) : value.toFixed(2)}×`, value };
}

/** GFLOPS on `cores` otherwise idle cores: the call's flops over its process CPU time spread on them. */
function cpuGflops(cell: Cell | undefined, cores: number): number | undefined {
  const list = cell ? [cell.m] : [];
  const cpu = cell?.cpuMs;
  if (!cell || cpu === undefined || !(cpu > 0) || !list[0]!.flops) return undefined;
  return (list[0]!.flops! * cores) / cpu / 1e6;
}

function rate(value: number): string {
  return value >= 100 ? value.toFixed(0) : value.toPrecision(3);
}

export interface ChartBar {
  label: string;
  ratio: number;
  lowerBound: boolean;
}

export function writeReport(results: PeerResults, paths: { markdown: string; svg: string; svgLink: string }): void {
  const lines: string[] = [];
  const bars: ChartBar[] = [];
  const bar = (label: string, g: Cell | undefined, p: Cell | undefined) => {
    const r = ratio(g, p);
    if (r.value) bars.push({ label, ratio: r.value, lowerBound: !!p?.capped });
    return r.text;
  };
  useSystems(results);
  const a = results.adapter;
  lines.push('# geolens beside its peers', '');
  lines.push(`Regenerated by \`npm run bench:peers\`${results.quick ? ' --quick (smoke check: fewer cases and runs)' : ''}; the raw figures are in \`bench/results/${results.quick ? 'peers-quick' : 'peers'}.json\`.`, '');
  lines.push(`- date: ${results.date}${results.durationS ? `, whole run ${(results.durationS / 60).toFixed(1)} min` : ''}`);
  for (const d of results.nodeDevices ?? [{ system: 'geolens node', adapter: a }]) {
    lines.push(`- \`${d.system}\`: ${d.adapter.name}${d.adapter.software ? ' (software)' : ''} in Node (Dawn, the \`webgpu\` package); features ${d.adapter.features.join(', ') || 'none'}; maxStorageBufferBindingSize ${d.adapter.limits.maxStorageBufferBindingSize}`);
  }
  lines.push(`- \`geolens chromium\`: ${results.browserAdapter ? `${results.browserAdapter.name} in headless Chromium` : 'Chromium adapter unknown'}, the same SwiftShader device for geolens and onnxruntime-web`);
  lines.push(`- dtype: ${results.dtype} weights and activations in every system; onnxruntime-web wasm with ${results.wasmThreads} thread; onnxruntime-node CPU EP with ${results.machine.cpus} threads`);
  lines.push(`- machine: ${results.machine.cpus} × ${results.machine.cpuModel}, ${results.machine.memoryGiB} GiB`);
  lines.push('');
  lines.push('The CPU is shared with other processes, so absolute times are noisy (several × from one run to the next). Every suite calls the systems in turn (A, B, C, A, B, C …) and each figure is the median of its calls, so a burst of load lands on all systems alike and the ratios stay fair. A ratio is the peer\'s time over geolens\' on the same platform: onnxruntime-web against geolens in the same Chromium, onnxruntime-node against geolens in Node. Above 1, geolens is faster. Chromium\'s SwiftShader JITs shaders with LLVM, Dawn\'s in Node with Subzero: the same geolens kernels run several times faster in Chromium here, which is why the two geolens columns differ.');
  lines.push('');
  lines.push('Interleaving spreads bursts of load over every system, but it cannot make contention fair: on an oversubscribed CPU, work split over threads that meet at barriers (SwiftShader runs each dispatch on worker threads and a forward pass is hundreds of dispatches; onnxruntime-node spins its 2 threads) loses far more than one thread running alone (onnxruntime-web wasm). The load average during the run is printed below; on an idle machine the multi-threaded systems gain several-fold on wasm.');
  if (results.loadAverage) lines.push('', `Load average (1 min) at the start and end of the run: ${results.loadAverage.map((l) => l.toFixed(1)).join(' → ')} on ${results.machine.cpus} cores.`);
  lines.push('');
  lines.push(`![geolens vs peers](${paths.svgLink})`, '');

  // (0) ceilings
  lines.push('## 0. Ceilings of each geolens device', '');
  lines.push('Measured in this run by src/kernels/ceiling.ts: FMA is the best of independent vec4 FMA chains over workgroup sizes and accumulator counts, copy the best vec4 copy (read + write) over workgroup sizes and vec4s per invocation; each variant\'s output is checked against its CPU reference. Every geolens figure below carries its fraction of the ceiling that bounds it, in parentheses: FMA for GEMM, attention, the embeddings and the location encoder, copy for search.', '');
  lines.push('| device | FMA ceiling | best FMA shape | copy ceiling | best copy shape |');
  lines.push('|---|---:|---|---:|---|');
  for (const system of [...NODE_SYSTEMS, GEOLENS_BROWSER]) {
    const c = CEILINGS[system];
    lines.push(c
      ? `| ${system} | ${rate(c.fmaGflops)} GFLOPS | workgroup ${c.fmaBest.workgroupSize}, ${c.fmaBest.accumulators} accumulators | ${rate(c.copyGBps)} GB/s | workgroup ${c.copyBest.workgroupSize}, ${c.copyBest.vectors} vec4s each, ${c.copyBufferBytes / 2 ** 20} MiB |`
      : `| ${system} | – | | – | |`);
  }
  lines.push('');

  // (1) embedding
  lines.push('## 1. Image embedding (CLIP ViT + GeoCLIP image MLP + L2 normalize, one 224 px image)', '');
  lines.push('Cold: device or session creation, weight loading (safetensors for geolens, ONNX for ORT, from disk in Node and from a loopback server in Chromium), pipeline compiles and the first image. Warm: one more image on the loaded model (in parentheses: its GFLOPS as a fraction of the device\'s FMA ceiling). `agrees` compares every element of each system embedding with the PyTorch embedding: the largest |difference| and the lowest cosine over the systems and runs.', '');
  lines.push(`| model | phase | ${SYSTEMS.join(' | ')} | vs webgpu | vs wasm | vs ort-node | agrees |`);
  lines.push(`|---|---|${SYSTEMS.map(() => '---:').join('|')}|---:|---:|---:|---:|`);
  for (const [key, row] of cells(results, 'embedding')) {
    const [model, phase] = key.split('|');
    const agreements = [...row.values()].flatMap((c) => c.agreements);
    // NaN and Infinity come back from the saved JSON as null: a length mismatch or a NaN is no agreement.
    const diffs = agreements.map((a) => (typeof a.maxAbsDiff === 'number' ? a.maxAbsDiff : Infinity));
    const cosines = agreements.map((a) => (typeof a.cosine === 'number' ? a.cosine : NaN));
    const worst = agreements.length === 0 ? '–'
      : diffs.some((d) => !Number.isFinite(d)) || cosines.some((c) => Number.isNaN(c)) ? 'no (NaN or length)'
        : `${Math.max(...diffs).toExponential(1)}, cos ${Math.min(...cosines).toFixed(6)}`;
    const withFraction = (system: string) => {
      const c = row.get(system);
      const fraction = system.startsWith('geolens') && phase === 'warm' && c?.ms && c.m.flops ? ofCeiling(system, 'fma', c.m.flops / c.ms / 1e6) : '';
      return ms(c) + fraction;
    };
    lines.push(`| ${model} | ${phase} | ${SYSTEMS.map(withFraction).join(' | ')} | ${PEERS.map((p) => bar(`${model} ${phase} vs ${p}`, reference(row, p), row.get(p))).join(' | ')} | ${worst} |`);
  }
  if (results.l14WebgpuCapS && results.measurements.some((m) => m.suite === 'embedding' && m.case.includes('L/14') && m.system === 'ort-web webgpu')) {
    lines.push('', `ORT-web's WebGPU EP runs ViT-L/14 for many minutes on SwiftShader (B/32 alone takes tens of seconds), so it gets one cold run stopped after ${results.l14WebgpuCapS} s; its figure and ratio are lower bounds.`);
  }
  lines.push('');

  // (2) kernels
  for (const suite of ['gemm', 'attention'] as const) {
    lines.push(suite === 'gemm' ? '## 2a. GEMM at ViT shapes (M×K×N), f32, against a one-op MatMul graph' : '## 2b. Fused attention (head dim 64), against one com.microsoft MultiHeadAttention node', '');
    lines.push('GFLOPS from the median call, for geolens with its fraction of the device\'s FMA ceiling (inputs and outputs stay on the GPU for the WebGPU EP; geolens\' call includes its sync). The CPU-time column is what the Node figure would be on otherwise idle cores: flops × cores / process CPU time, which other processes move much less than the wall clock.', '');
    lines.push(`| shape | ${SYSTEMS.map((s) => `${s} GFLOPS`).join(' | ')} | ${GEOLENS}, CPU time, @${results.machine.cpus} cores | vs webgpu | vs wasm | vs ort-node |`);
    lines.push(`|---|${SYSTEMS.map(() => '---:').join('|')}|---:|---:|---:|---:|`);
    for (const [shape, row] of cells(results, suite)) {
      const flops = [...row.values()][0]!.m.flops!;
      const gf = SYSTEMS.map((s) => {
        const c = row.get(s);
        return c?.ms ? `${c.capped ? '< ' : ''}${rate(flops / c.ms / 1e6)}${s.startsWith('geolens') ? ofCeiling(s, 'fma', flops / c.ms / 1e6) : ''}` : c?.error ? 'failed' : '–';
      });
      const cpu = cpuGflops(row.get(GEOLENS), results.machine.cpus);
      lines.push(`| ${shape} | ${gf.join(' | ')} | ${cpu === undefined ? '–' : rate(cpu)} | ${PEERS.map((p) => bar(`${suite} ${shape} vs ${p}`, reference(row, p), row.get(p))).join(' | ')} |`);
    }
    lines.push('');
  }

  // (3) search
  const copyGBs = (system: string) => CEILINGS[system]?.copyGBps;
  const geolensSystems = [...NODE_SYSTEMS, GEOLENS_BROWSER];
  lines.push('## 3. Gallery search (top 5 of a unit-norm gallery × 512, f32), against MatMul + TopK', '');
  lines.push('GB/s counts the gallery read once, with its fraction of the device\'s copy ceiling (section 0), the practical roofline of a memory-bound pass. `best` is the top row the systems found (one value when they agree). A million rows (2 GB) run only where the gallery needs no second copy in a page.', '');
  lines.push(`| gallery | ${geolensSystems.map((s) => `${s} | GB/s`).join(' | ')} | ort-web webgpu | GB/s | ort-node cpu | vs webgpu | vs ort-node | best |`);
  lines.push(`|---|${geolensSystems.map(() => '---:|---:').join('|')}|---:|---:|---:|---:|---:|---|`);
  for (const [name, row] of cells(results, 'search')) {
    const w = row.get('ort-web webgpu');
    const bytes = [...row.values()][0]!.m.bytes!;
    const gbs = (c?: Cell) => (c?.ms ? rate(bytes / c.ms / 1e6) : '–');
    const share = (c: Cell | undefined, system: string) => (c?.ms && copyGBs(system) ? ofCeiling(system, 'copy', bytes / c.ms / 1e6) : '');
    const best = [...new Set([...row.values()].flatMap((c) => c.values))].join(', ') || '–';
    const geolensCells = geolensSystems.map((s) => `${ms(row.get(s))} | ${gbs(row.get(s))}${share(row.get(s), s)}`).join(' | ');
    lines.push(`| ${name} | ${geolensCells} | ${ms(w)} | ${gbs(w)} | ${ms(row.get('ort-node cpu'))} | ${bar(`search ${name} vs ort-web webgpu`, reference(row, 'ort-web webgpu'), w)} | ${bar(`search ${name} vs ort-node cpu`, row.get(GEOLENS), row.get('ort-node cpu'))} | ${best} |`);
  }
  lines.push('');

  // (4) location encoder
  lines.push('## 4. Location encoder (GeoCLIP, 3 capsules of 512 → 1024 → 1024 → 1024 → 512, + normalize)', '');
  const locationSystems = [...NODE_SYSTEMS, 'ort-web webgpu', 'ort-web wasm', 'ort-node cpu'];
  lines.push('points/s, for geolens with its GFLOPS as a fraction of the device\'s FMA ceiling.', '');
  lines.push(`| points | ${locationSystems.map((s) => `${s} points/s`).join(' | ')} | vs webgpu | vs wasm | vs ort-node |`);
  lines.push(`|---|${locationSystems.map(() => '---:').join('|')}|---:|---:|---:|`);
  for (const [name, row] of cells(results, 'location')) {
    const points = [...row.values()][0]!.m.points!;
    const pps = locationSystems.map((s) => {
      const c = row.get(s);
      const fraction = s.startsWith('geolens') && c?.ms && c.m.flops ? ofCeiling(s, 'fma', c.m.flops / c.ms / 1e6) : '';
      return c?.ms ? rate((points / c.ms) * 1000) + fraction : c?.error ? 'failed' : '–';
    });
    lines.push(`| ${name} | ${pps.join(' | ')} | ${PEERS.map((p) => bar(`location vs ${p}`, reference(row, p), row.get(p))).join(' | ')} |`);
  }
  lines.push('');

  // Targets
  lines.push('## Targets', '');
  const gemmRows = [...cells(results, 'gemm')];
  for (const system of [...NODE_SYSTEMS, GEOLENS_BROWSER]) {
    const worst = gemmRows.map(([shape, row]) => {
      const c = row.get(system);
      return { shape, gflops: c?.ms ? c.m.flops! / c.ms / 1e6 : 0 };
    }).sort((x, y) => x.gflops - y.gflops)[0];
    if (worst) lines.push(`- every ViT GEMM shape ≥ 4.0 GFLOPS (${system}, wall clock): ${worst.gflops >= 4 ? 'met' : 'not met'} (slowest: ${worst.shape} at ${rate(worst.gflops)} GFLOPS)`);
  }
  const cpuWorst = gemmRows.map(([shape, row]) => ({ shape, gflops: cpuGflops(row.get(GEOLENS), results.machine.cpus) }))
    .filter((x) => x.gflops !== undefined).sort((x, y) => x.gflops! - y.gflops!)[0];
  if (cpuWorst) lines.push(`- every ViT GEMM shape ≥ 4.0 GFLOPS (${GEOLENS}, CPU time on ${results.machine.cpus} idle cores): ${cpuWorst.gflops! >= 4 ? 'met' : 'not met'} (slowest: ${cpuWorst.shape} at ${rate(cpuWorst.gflops!)} GFLOPS)`);
  const embedding = cells(results, 'embedding');
  const b32 = embedding.get('ViT-B/32 + MLP|warm');
  const b32Cold = embedding.get('ViT-B/32 + MLP|cold');
  const progress: { what: string; fraction: number }[] = [];
  if (cpuWorst) progress.push({ what: `GEMM ${cpuWorst.shape} (${rate(cpuWorst.gflops!)} of 4.0 GFLOPS, CPU time)`, fraction: cpuWorst.gflops! / 4 });
  if (b32) {
    const vsWasm = ratio(reference(b32, 'ort-web wasm'), b32.get('ort-web wasm'));
    lines.push(`- B/32 embedding ≥ 1.0× onnxruntime-web wasm (warm): ${vsWasm.value !== undefined ? (vsWasm.value >= 1 ? 'met' : 'not met') : 'not measured'} (${vsWasm.text})`);
    if (vsWasm.value !== undefined) progress.push({ what: `B/32 embedding vs wasm (${vsWasm.text} of 1.0×)`, fraction: vsWasm.value });
    let vsWebgpu = ratio(reference(b32, 'ort-web webgpu'), b32.get('ort-web webgpu'));
    let phase = 'warm';
    if (vsWebgpu.value === undefined && b32Cold) {
      // ORT-web WebGPU finished no image inside its cap: its capped cold run against geolens' cold run.
      vsWebgpu = ratio(reference(b32Cold, 'ort-web webgpu'), b32Cold.get('ort-web webgpu'));
      phase = 'cold, its only run, capped: a lower bound';
    }
    lines.push(`- B/32 embedding ≥ 25× onnxruntime-web WebGPU (${phase}): ${vsWebgpu.value !== undefined ? (vsWebgpu.value >= 25 ? 'met' : 'not met') : 'not measured'} (${vsWebgpu.text})`);
    if (vsWebgpu.value !== undefined) progress.push({ what: `B/32 embedding vs WebGPU (${vsWebgpu.text} of 25×)`, fraction: vsWebgpu.value / 25 });
  }
  const furthest = progress.sort((x, y) => x.fraction - y.fraction)[0];
  if (furthest && furthest.fraction < 1) {
    const bestGemm = Math.max(0, ...gemmRows.map(([, row]) => row.get(GEOLENS_BROWSER)).filter((c) => c?.ms).map((c) => c!.m.flops! / c!.ms! / 1e6));
    lines.push(`- furthest behind: ${furthest.what}, ${(furthest.fraction * 100).toFixed(0)}% of its target; best GEMM shape ${rate(bestGemm)} GFLOPS in Chromium (ceilings: section 0).`);
  }
  for (const note of results.notes) lines.push(`- ${note}`);
  lines.push('');
  writeFileSync(paths.markdown, lines.join('\n'));
  writeFileSync(paths.svg, chart(bars, `geolens vs peers, ${results.date.slice(0, 10)}: peer time / geolens time (same platform; Node: ${GEOLENS.replace('geolens node ', '')})`));
}

/** Horizontal bars on a log axis around 1×: right of the line geolens is faster, left it is slower. */
export function chart(bars: ChartBar[], title: string): string {
  const rowH = 18;
  const labelW = 330;
  const plotW = 460;
  const top = 40;
  const height = top + bars.length * rowH + 40;
  const min = -2;
  const max = 3; // 0.01× .. 1000×
  const x = (r: number) => labelW + ((Math.min(max, Math.max(min, Math.log10(r))) - min) / (max - min)) * plotW;
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${labelW + plotW + 90}" height="${height}" font-family="sans-serif" font-size="11">`);
  parts.push(`<rect width="100%" height="100%" fill="white"/>`);
  parts.push(`<text x="10" y="20" font-size="13" font-weight="bold">${esc(title)}</text>`);
  for (let p = min; p <= max; p++) {
    const gx = labelW + ((p - min) / (max - min)) * plotW;
    parts.push(`<line x1="${gx}" y1="${top - 6}" x2="${gx}" y2="${height - 30}" stroke="${p === 0 ? '#333' : '#ddd'}"/>`);
    parts.push(`<text x="${gx}" y="${height - 16}" text-anchor="middle">${10 ** p}×</text>`);
  }
  bars.forEach((b, i) => {
    const y = top + i * rowH;
    const x0 = x(1);
    const x1 = x(b.ratio);
    const color = b.ratio >= 1 ? '#2a9d5b' : '#d0513a';
    parts.push(`<text x="${labelW - 6}" y="${y + 12}" text-anchor="end">${esc(b.label)}</text>`);
    parts.push(`<rect x="${Math.min(x0, x1)}" y="${y + 3}" width="${Math.max(1, Math.abs(x1 - x0))}" height="${rowH - 6}" fill="${color}"/>`);
    parts.push(`<text x="${Math.max(x0, x1) + 4}" y="${y + 12}">${b.lowerBound ? '&gt; ' : ''}${b.ratio >= 10 ? b.ratio.toFixed(0) : b.ratio.toFixed(2)}×</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

/**
 * The README's performance table from the same results: one column per geolens device, each figure
 * with its fraction of that device's ceiling (bench/peers/readme.ts writes it into README.md).
 */
export function performanceTable(results: PeerResults): string[] {
  useSystems(results);
  const systems = [...NODE_SYSTEMS, GEOLENS_BROWSER];
  const label = (system: string) => {
    const node = results.nodeDevices?.find((d) => d.system === system);
    if (node) return `${node.adapter.name}, Node`;
    if (system === GEOLENS_BROWSER) return `${results.browserAdapter?.name ?? 'SwiftShader'}, Chromium`;
    return `${results.adapter.name}, Node`;
  };
  const lines: string[] = [];
  lines.push(`| what | ${systems.map(label).join(' | ')} |`);
  lines.push(`|---|${systems.map(() => '---:').join('|')}|`);
  const row = (what: string, cell: (system: string) => string) => lines.push(`| ${what} | ${systems.map((s) => cell(s) || '–').join(' | ')} |`);
  row('FMA ceiling (independent vec4 FMAs)', (s) => (CEILINGS[s] ? `${rate(CEILINGS[s]!.fmaGflops)} GFLOPS` : ''));
  row('copy ceiling (vec4 read + write)', (s) => (CEILINGS[s] ? `${rate(CEILINGS[s]!.copyGBps)} GB/s` : ''));
  for (const suite of ['gemm', 'attention'] as const) {
    for (const [shape, r] of cells(results, suite)) {
      row(suite === 'gemm' ? `GEMM ${shape} (f32)` : `attention ${shape} × 64`, (s) => {
        const c = r.get(s);
        if (!c?.ms || !c.m.flops) return '';
        const gflops = c.m.flops / c.ms / 1e6;
        return `${rate(gflops)} GFLOPS${ofCeiling(s, 'fma', gflops)}`;
      });
    }
  }
  for (const [name, r] of cells(results, 'search')) {
    row(`search ${name}`, (s) => {
      const c = r.get(s);
      if (!c?.ms) return '';
      const gbs = c.m.bytes! / c.ms / 1e6;
      return `${ms(c)}, ${rate(gbs)} GB/s${ofCeiling(s, 'copy', gbs)}`;
    });
  }
  for (const [name, r] of cells(results, 'location')) {
    row(`location encoder, ${name}`, (s) => {
      const c = r.get(s);
      if (!c?.ms) return '';
      return `${rate((c.m.points! / c.ms) * 1000)} points/s${c.m.flops ? ofCeiling(s, 'fma', c.m.flops / c.ms / 1e6) : ''}`;
    });
  }
  for (const [key, r] of cells(results, 'embedding')) {
    const [model, phase] = key.split('|');
    row(`${model} image embedding, ${phase}`, (s) => {
      const c = r.get(s);
      if (!c?.ms) return '';
      return `${ms(c)}${phase === 'warm' && c.m.flops ? ofCeiling(s, 'fma', c.m.flops / c.ms / 1e6) : ''}`;
    });
  }
  return lines;
}
