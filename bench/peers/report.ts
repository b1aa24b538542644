// Turns the peer benchmark's JSON into bench/RESULTS.md and an SVG chart of geolens-to-peer ratios.
// Every figure is the median of the calls a system made in the run; a ratio is peer ms / geolens ms
// (above 1: geolens is faster), always from the same run.
import { writeFileSync } from 'node:fs';

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
  adapter: AdapterInfo;
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

const GEOLENS = 'geolens node';
const GEOLENS_BROWSER = 'geolens chromium';
const PEERS = ['ort-web webgpu', 'ort-web wasm', 'ort-node cpu'];
/**
 * Whose geolens figure a peer is set against: the onnxruntime-web EPs against geolens in the same
 * Chromium (same SwiftShader build and device), onnxruntime-node against geolens in Node. Chromium's
 * SwiftShader JITs with LLVM where Dawn's in Node uses Subzero, and the two differ by several times.
 */
function reference(row: Map<string, Cell>, peer: string): Cell | undefined {
  return peer.startsWith('ort-web') ? (row.get(GEOLENS_BROWSER) ?? row.get(GEOLENS)) : row.get(GEOLENS);
}
const SYSTEMS = ['geolens node', 'geolens chromium', ...PEERS];

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
  const a = results.adapter;
  lines.push('# geolens beside its peers', '');
  lines.push(`Regenerated by \`npm run bench:peers\`${results.quick ? ' --quick (smoke check: fewer cases and runs)' : ''}; the raw figures are in \`bench/results/${results.quick ? 'peers-quick' : 'peers'}.json\`.`, '');
  lines.push(`- date: ${results.date}${results.durationS ? `, whole run ${(results.durationS / 60).toFixed(1)} min` : ''}`);
  lines.push(`- adapter: ${a.name}${a.software ? ' (software)' : ''} in Node (Dawn, the \`webgpu\` package); ${results.browserAdapter ? `${results.browserAdapter.name} in headless Chromium` : 'Chromium adapter unknown'}, the same SwiftShader device for geolens and onnxruntime-web`);
  lines.push(`- features: ${a.features.join(', ') || 'none'}; maxStorageBufferBindingSize ${a.limits.maxStorageBufferBindingSize}`);
  lines.push(`- dtype: ${results.dtype} weights and activations in every system; onnxruntime-web wasm with ${results.wasmThreads} thread; onnxruntime-node CPU EP with ${results.machine.cpus} threads`);
  lines.push(`- machine: ${results.machine.cpus} × ${results.machine.cpuModel}, ${results.machine.memoryGiB} GiB`);
  lines.push('');
  lines.push('The CPU is shared with other processes, so absolute times are noisy (several × from one run to the next). Every suite calls the systems in turn (A, B, C, A, B, C …) and each figure is the median of its calls, so a burst of load lands on all systems alike and the ratios stay fair. A ratio is the peer\'s time over geolens\' on the same platform: onnxruntime-web against geolens in the same Chromium, onnxruntime-node against geolens in Node. Above 1, geolens is faster. Chromium\'s SwiftShader JITs shaders with LLVM, Dawn\'s in Node with Subzero: the same geolens kernels run several times faster in Chromium here, which is why the two geolens columns differ.');
  lines.push('');
  lines.push('Interleaving spreads bursts of load over every system, but it cannot make contention fair: on an oversubscribed CPU, work split over threads that meet at barriers (SwiftShader runs each dispatch on worker threads and a forward pass is hundreds of dispatches; onnxruntime-node spins its 2 threads) loses far more than one thread running alone (onnxruntime-web wasm). The load average during the run is printed below; on an idle machine the multi-threaded systems gain several-fold on wasm.');
  if (results.loadAverage) lines.push('', `Load average (1 min) at the start and end of the run: ${results.loadAverage.map((l) => l.toFixed(1)).join(' → ')} on ${results.machine.cpus} cores.`);
  lines.push('');
  lines.push(`![geolens vs peers](${paths.svgLink})`, '');

  // (1) embedding
  lines.push('## 1. Image embedding (CLIP ViT + GeoCLIP image MLP + L2 normalize, one 224 px image)', '');
  lines.push('Cold: device or session creation, weight loading (safetensors for geolens, ONNX for ORT, from disk in Node and from a loopback server in Chromium), pipeline compiles and the first image. Warm: one more image on the loaded model. `agrees` compares every element of each system embedding with the PyTorch embedding: the largest |difference| and the lowest cosine over the systems and runs.', '');
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
    lines.push(`| ${model} | ${phase} | ${SYSTEMS.map((s) => ms(row.get(s))).join(' | ')} | ${PEERS.map((p) => bar(`${model} ${phase} vs ${p}`, reference(row, p), row.get(p))).join(' | ')} | ${worst} |`);
  }
  if (results.l14WebgpuCapS && results.measurements.some((m) => m.suite === 'embedding' && m.case.includes('L/14') && m.system === 'ort-web webgpu')) {
    lines.push('', `ORT-web's WebGPU EP runs ViT-L/14 for many minutes on SwiftShader (B/32 alone takes tens of seconds), so it gets one cold run stopped after ${results.l14WebgpuCapS} s; its figure and ratio are lower bounds.`);
  }
  lines.push('');

  // (2) kernels
  for (const suite of ['gemm', 'attention'] as const) {
    lines.push(suite === 'gemm' ? '## 2a. GEMM at ViT shapes (M×K×N), f32, against a one-op MatMul graph' : '## 2b. Fused attention (head dim 64), against one com.microsoft MultiHeadAttention node', '');
    lines.push('GFLOPS from the median call (inputs and outputs stay on the GPU for the WebGPU EP; geolens\' call includes its sync). The CPU-time column is what the Node figure would be on otherwise idle cores: flops × cores / process CPU time, which other processes move much less than the wall clock.', '');
    lines.push(`| shape | ${SYSTEMS.map((s) => `${s} GFLOPS`).join(' | ')} | geolens node, CPU time, @2 cores | vs webgpu | vs wasm | vs ort-node |`);
    lines.push(`|---|${SYSTEMS.map(() => '---:').join('|')}|---:|---:|---:|---:|`);
    for (const [shape, row] of cells(results, suite)) {
      const flops = [...row.values()][0]!.m.flops!;
      const gf = SYSTEMS.map((s) => {
        const c = row.get(s);
        return c?.ms ? `${c.capped ? '< ' : ''}${rate(flops / c.ms / 1e6)}` : c?.error ? 'failed' : '–';
      });
      const cpu = cpuGflops(row.get(GEOLENS), results.machine.cpus);
      lines.push(`| ${shape} | ${gf.join(' | ')} | ${cpu === undefined ? '–' : rate(cpu)} | ${PEERS.map((p) => bar(`${suite} ${shape} vs ${p}`, reference(row, p), row.get(p))).join(' | ')} |`);
    }
    lines.push('');
  }

  // (3) search
  const copyRow = [...cells(results, 'copy').values()][0];
  const copyGBs = (system: string) => {
    const c = copyRow?.get(system);
    return c?.ms ? c.m.bytes! / c.ms / 1e6 : undefined;
  };
  const shownCopy = (system: string) => (copyGBs(system) ? `**${rate(copyGBs(system)!)} GB/s**` : 'n/a');
  lines.push('## 3. Gallery search (top 5 of a unit-norm gallery × 512, f32), against MatMul + TopK', '');
  lines.push(`GB/s counts the gallery read once. The copy kernel (shaders/copy.wgsl, read + write of 256 MiB) reaches ${shownCopy(GEOLENS)} in Node and ${shownCopy(GEOLENS_BROWSER)} in Chromium: the practical roofline of a memory-bound pass on each. \`best\` is the top row the systems found (one value when they agree). A million rows (2 GB) run only where the gallery needs no second copy in a page.`, '');
  lines.push(`| gallery | geolens node | GB/s | % of copy | geolens chromium | GB/s | % of copy | ort-web webgpu | GB/s | ort-node cpu | vs webgpu | vs ort-node | best |`);
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const [name, row] of cells(results, 'search')) {
    const g = row.get(GEOLENS);
    const gb = row.get(GEOLENS_BROWSER);
    const w = row.get('ort-web webgpu');
    const bytes = [...row.values()][0]!.m.bytes!;
    const gbs = (c?: Cell) => (c?.ms ? rate(bytes / c.ms / 1e6) : '–');
    const share = (c: Cell | undefined, system: string) => (c?.ms && copyGBs(system) ? `${((bytes / c.ms / 1e6 / copyGBs(system)!) * 100).toFixed(0)}%` : '–');
    const best = [...new Set([...row.values()].flatMap((c) => c.values))].join(', ') || '–';
    lines.push(`| ${name} | ${ms(g)} | ${gbs(g)} | ${share(g, GEOLENS)} | ${ms(gb)} | ${gbs(gb)} | ${share(gb, GEOLENS_BROWSER)} | ${ms(w)} | ${gbs(w)} | ${ms(row.get('ort-node cpu'))} | ${bar(`search ${name} vs ort-web webgpu`, reference(row, 'ort-web webgpu'), w)} | ${bar(`search ${name} vs ort-node cpu`, g, row.get('ort-node cpu'))} | ${best} |`);
  }
  lines.push('');

  // (4) location encoder
  lines.push('## 4. Location encoder (GeoCLIP, 3 capsules of 512 → 1024 → 1024 → 1024 → 512, + normalize)', '');
  lines.push(`| points | ${['geolens node', 'ort-web webgpu', 'ort-web wasm', 'ort-node cpu'].map((s) => `${s} points/s`).join(' | ')} | vs webgpu | vs wasm | vs ort-node |`);
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const [name, row] of cells(results, 'location')) {
    const points = [...row.values()][0]!.m.points!;
    const pps = ['geolens node', 'ort-web webgpu', 'ort-web wasm', 'ort-node cpu'].map((s) => {
      const c = row.get(s);
      return c?.ms ? rate((points / c.ms) * 1000) : c?.error ? 'failed' : '–';
    });
    lines.push(`| ${name} | ${pps.join(' | ')} | ${PEERS.map((p) => bar(`location vs ${p}`, reference(row, p), row.get(p))).join(' | ')} |`);
  }
  lines.push('');

  // Targets
  lines.push('## Targets on SwiftShader', '');
  const gemmRows = [...cells(results, 'gemm')];
  for (const system of [GEOLENS, GEOLENS_BROWSER]) {
    const worst = gemmRows.map(([shape, row]) => {
      const c = row.get(system);
      return { shape, gflops: c?.ms ? c.m.flops! / c.ms / 1e6 : 0 };
    }).sort((x, y) => x.gflops - y.gflops)[0];
    if (worst) lines.push(`- every ViT GEMM shape ≥ 4.0 GFLOPS (${system}, wall clock): ${worst.gflops >= 4 ? 'met' : 'not met'} (slowest: ${worst.shape} at ${rate(worst.gflops)} GFLOPS)`);
  }
  const cpuWorst = gemmRows.map(([shape, row]) => ({ shape, gflops: cpuGflops(row.get(GEOLENS), results.machine.cpus) }))
    .filter((x) => x.gflops !== undefined).sort((x, y) => x.gflops! - y.gflops!)[0];
  if (cpuWorst) lines.push(`- every ViT GEMM shape ≥ 4.0 GFLOPS (geolens node, CPU time on ${results.machine.cpus} idle cores): ${cpuWorst.gflops! >= 4 ? 'met' : 'not met'} (slowest: ${cpuWorst.shape} at ${rate(cpuWorst.gflops!)} GFLOPS)`);
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
    lines.push(`- furthest behind: ${furthest.what}, ${(furthest.fraction * 100).toFixed(0)}% of its target. Ceilings measured in this run: copy ${copyGBs(GEOLENS_BROWSER) ? rate(copyGBs(GEOLENS_BROWSER)!) : '?'} GB/s (Chromium) / ${copyGBs(GEOLENS) ? rate(copyGBs(GEOLENS)!) : '?'} GB/s (Node), best GEMM shape ${rate(bestGemm)} GFLOPS in Chromium.`);
  }
  for (const note of results.notes) lines.push(`- ${note}`);
  lines.push('');
  writeFileSync(paths.markdown, lines.join('\n'));
  writeFileSync(paths.svg, chart(bars, `geolens vs peers on SwiftShader, ${results.date.slice(0, 10)}: peer time / geolens time (same platform)`));
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
