// CLIP text tower benchmark on random weights shaped like ViT-B/32's (or L/14's) text tower, and the
// tokenizer's throughput:
//
//   node build.mjs --bench clip-text && node .build/bench/model/clip-text.bench.mjs [B/32] [L/14] [--f16]
//
// Eight place prompts ("a photo taken in <place>.") run twice: as tokenized, where the sequence is cut at
// the latest end token (~10 positions), and with one 77-token prompt in the batch, which forces the full
// context. Each is warmed once and then timed wall-clock around textFeatures + readback (median of 3).
// GFLOPS count every linear and attention's two products at the positions actually run (clipTextFlops).
import { CLIP_TEXT_PRESETS, ClipTextModel, clipTextFlops, pooledPositions, type ClipTextConfigInput } from '../../src/model/clip/text.js';
import { ClipTokenizer } from '../../src/model/clip/tokenizer.js';
import { getDevice, type Gpu } from '../../src/runtime/index.js';
import type { WeightSource } from '../../src/weights/index.js';
import { encoderLayerShapes, fillRandom, randomWeightSource } from '../support/clip-weights.js';

const VOCAB = '../shared/data/clip/bpe_simple_vocab_16e6.txt.gz';
const PLACES = ['Kauai, Hawaii', 'Paris, France', 'Kyoto, Japan', 'Reykjavík, Iceland', 'Cusco, Peru', 'Cape Town, South Africa',
  'Queenstown, New Zealand', 'Marrakesh, Morocco'];

/** HF-named random weights made on demand, so only the tensor being uploaded lives in JS memory. */
function randomWeights(config: ClipTextConfigInput): WeightSource {
  const d = config.hidden_size;
  return randomWeightSource([
    ['text_model.embeddings.token_embedding.weight', [config.vocab_size, d]],
    ['text_model.embeddings.position_embedding.weight', [config.max_position_embeddings ?? 77, d]],
    ...encoderLayerShapes('text_model', config),
    ['text_model.final_layer_norm.weight', [d]],
    ['text_model.final_layer_norm.bias', [d]],
    ['text_projection.weight', [config.projection_dim, d]],
  ], (out, name, shape, index) => {
    const matrix = shape.length >= 2 && !name.includes('embedding');
    return fillRandom(out, 1 + index, matrix ? 1 / Math.sqrt(shape[1]!) : 0.1);
  });
}

async function time(gpu: Gpu, model: ClipTextModel, ids: Int32Array): Promise<{ seconds: number; finite: boolean }> {
  const run = async () => {
    await gpu.sync();
    const start = performance.now();
    const output = model.textFeatures(ids);
    const features = await output.read();
    output.release();
    return { seconds: (performance.now() - start) / 1000, finite: features.every(Number.isFinite) };
  };
  await run();
  const runs = [await run(), await run(), await run()].sort((a, b) => a.seconds - b.seconds);
  return runs[1]!;
}

async function bench(gpu: Gpu, tokenizer: ClipTokenizer, name: keyof typeof CLIP_TEXT_PRESETS, dtype: 'f32' | 'f16'): Promise<void> {
  const config = CLIP_TEXT_PRESETS[name];
  const start = performance.now();
  const model = await ClipTextModel.load(gpu, randomWeights(config), config, { dtype });
  const loadSeconds = (performance.now() - start) / 1000;
  const prompts = PLACES.map((place) => `a photo taken in ${place}.`);
  const short = tokenizer.tokenize(prompts);
  const full = tokenizer.tokenize([...prompts.slice(1), 'a long caption '.repeat(40)]);
  console.log(`${name} ${dtype}: load ${loadSeconds.toFixed(1)} s`);
  for (const [label, ids] of [['8 prompts, trimmed', short], ['8 prompts, one of 77 tokens', full]] as const) {
    const positions = pooledPositions(ids, 77, 49407).reduce((a, b) => Math.max(a, b), 0) + 1;
    const flops = clipTextFlops(config, 8, positions);
    const { seconds, finite } = await time(gpu, model, ids);
    console.log(`  ${label.padEnd(28)} ${String(positions).padStart(2)} positions  ${(flops / 1e9).toFixed(2).padStart(6)} GFLOP  ` +
      `${(seconds * 1000).toFixed(0).padStart(6)} ms  ${(flops / seconds / 1e9).toFixed(2)} GFLOPS${finite ? '' : '  NON-FINITE OUTPUT'}`);
  }
  model.release();
  gpu.pool.trim();
}

const args = process.argv.slice(2);
const dtype = args.includes('--f16') ? 'f16' : 'f32';
const wanted = args.filter((a) => !a.startsWith('--')).map((a) => (a.startsWith('ViT-') ? a : `ViT-${a}`));
const models = (wanted.length > 0 ? wanted : ['ViT-B/32']) as (keyof typeof CLIP_TEXT_PRESETS)[];
for (const m of models) if (!(m in CLIP_TEXT_PRESETS)) throw new Error(`unknown model ${m}; known: ${Object.keys(CLIP_TEXT_PRESETS).join(', ')}`);

process.env.GEOLENS_QUIET = '1';
const gpu = await getDevice();
console.log(`adapter: ${gpu.adapterName}${gpu.isSoftware ? ' (software)' : ''}`);

let t0 = performance.now();
const tokenizer = await ClipTokenizer.load(VOCAB);
const loadMs = performance.now() - t0;
const captions = Array.from({ length: 2000 }, (_, i) => `a photo number ${i} taken in ${PLACES[i % PLACES.length]}, with ${i % 7} mountains and ${i % 11} rivers`);
t0 = performance.now();
tokenizer.tokenize(captions);
const tokenizeMs = performance.now() - t0;
console.log(`tokenizer: vocabulary load ${loadMs.toFixed(0)} ms, ${captions.length} captions in ${tokenizeMs.toFixed(0)} ms (${(captions.length / tokenizeMs * 1000).toFixed(0)} texts/s, warm cache after the first few)`);

for (const name of models) await bench(gpu, tokenizer, name, dtype);
process.exit(0);
