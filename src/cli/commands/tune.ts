import { InvalidArgumentError, type Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { gemmFlops, gemmShapeKey } from '../../kernels/gemm.js';
import { rowShapeKey } from '../../kernels/rows.js';
import { searchShapeKey } from '../../kernels/search.js';
import {
  clipVisionAttentionShapes, clipVisionGemmShapes, clipVisionRowShapes, defaultTuningStore, geoclipLocationGemmShapes, geoclipRowShapes, geoclipSearchShapes, loadTuningTable,
  saveTuningTable, tuneModelShapes, type WeightDType,
} from '../../kernels/tuning.js';
import { CLIP_VISION_PRESETS } from '../../model/clip/vision.js';
import { getDevice } from '../../runtime/index.js';
import { GeolensError } from '../../runtime/errors.js';
import { positiveInteger, positiveNumber } from '../options.js';

interface TuneFlags {
  model: string;
  clipConfig?: string;
  dtype: WeightDType;
  f16?: boolean;
  batch: number[];
  budget: number;
  repeats: number;
  cacheDir?: string;
  fresh?: boolean;
  quiet?: boolean;
}

function batches(value: string): number[] {
  const list = value.split(',').map(Number);
  if (list.length === 0 || list.some((n) => !Number.isInteger(n) || n < 1 || n > 256)) throw new InvalidArgumentError(`'${value}' is not a list of batch sizes 1…256 (e.g. 1,8)`);
  return list;
}

function dtype(value: string): WeightDType {
  if (value !== 'f32' && value !== 'f16' && value !== 'q8' && value !== 'q4') throw new InvalidArgumentError(`'${value}' is not f32, f16, q8 or q4`);
  return value;
}

/** The vision config to tune for: a preset by name, or the fields of a local config.json (HF's, vision_config inside or not). */
async function visionConfig(flags: TuneFlags) {
  if (!flags.clipConfig) {
    const preset = CLIP_VISION_PRESETS[flags.model as keyof typeof CLIP_VISION_PRESETS];
    if (!preset) throw new GeolensError(`--model '${flags.model}' is not one of ${Object.keys(CLIP_VISION_PRESETS).join(', ')}; or give --clip-config <config.json>`);
    return preset;
  }
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(await readFile(flags.clipConfig, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new GeolensError(`--clip-config ${flags.clipConfig}: ${(error as Error).message}`);
  }
  const vision = (json.vision_config ?? json) as Record<string, unknown>;
  const fields = ['hidden_size', 'intermediate_size', 'image_size', 'patch_size', 'num_attention_heads'] as const;
  for (const field of fields) {
    if (!Number.isInteger(vision[field]) || (vision[field] as number) < 1) throw new GeolensError(`--clip-config ${flags.clipConfig}: ${field} must be a positive integer; got ${JSON.stringify(vision[field])}`);
  }
  const projection = (vision.projection_dim ?? json.projection_dim ?? 768) as number;
  if ((vision.hidden_size as number) % (vision.num_attention_heads as number) !== 0) {
    throw new GeolensError(`--clip-config ${flags.clipConfig}: hidden_size ${vision.hidden_size} does not split into num_attention_heads ${vision.num_attention_heads}`);
  }
  return { hidden_size: vision.hidden_size as number, num_attention_heads: vision.num_attention_heads as number, intermediate_size: vision.intermediate_size as number, image_size: vision.image_size as number, patch_size: vision.patch_size as number, projection_dim: projection };
}

/** A pick's timings, fastest first. */
function ranked(ms: Record<string, number>): [string, number][] {
  return Object.entries(ms).sort((a, b) => a[1] - b[1]);
}

export function registerTune(program: Command): void {
  program
    .command('tune')
    .description('time every GEMM variant, attention kernel, row-kernel strategy and search tiling at a model\'s shapes on this adapter and store the fastest per shape (create() then uses them)')
    .option('--model <name>', `CLIP vision preset: ${Object.keys(CLIP_VISION_PRESETS).join(', ')}`, 'ViT-L/14')
    .option('--clip-config <file>', 'a CLIP config.json to take the shapes from instead of a preset')
    .option('--dtype <dtype>', 'weight storage the model will run with: f32, f16, q8 or q4', dtype, 'f32')
    .option('--f16', 'same as --dtype f16')
    .option('--batch <sizes>', 'image batch sizes to tune, comma-separated', batches, [1])
    .option('--budget <seconds>', 'stop timing after this long; shapes not reached keep the defaults', positiveNumber, 60)
    .option('--repeats <n>', 'timed passes per candidate (the best counts)', positiveInteger, 3)
    .option('--fresh', 'retime shapes the stored table already has')
    .option('--cache-dir <dir>', 'where the table is kept (default $GEOLENS_CACHE or ~/.cache/geolens)')
    .option('-q, --quiet', 'print only where the table went')
    .action(async (flags: TuneFlags) => {
      const started = performance.now();
      const config = await visionConfig(flags);
      const weights = flags.f16 ? 'f16' : flags.dtype;
      const gpu = await getDevice({ log: () => {} });
      const log = flags.quiet ? () => {} : (line: string) => console.log(line);
      const store = await defaultTuningStore(flags.cacheDir);
      const existing = flags.fresh ? null : await loadTuningTable(gpu, { store, log: (m) => console.error(m) });
      const shapes = [...clipVisionGemmShapes(config, weights, flags.batch), ...geoclipLocationGemmShapes(weights)];
      const attentionShapes = clipVisionAttentionShapes(config, flags.batch);
      const rowShapes = [...clipVisionRowShapes(config, flags.batch), ...geoclipRowShapes(flags.batch)].filter((s) => !existing?.rows?.[rowShapeKey(s.op, s.rows, s.cols)]);
      // The gallery is stored f16 when the weights are (and no concepts re-rank); both are timed, since the command cannot know.
      const searchShapes = geoclipSearchShapes(undefined, undefined, flags.batch).filter((s) => !existing?.search?.[searchShapeKey(s.rows, s.dim, s.dtype, s.queries)]);
      log(`adapter: ${gpu.adapterName}${gpu.isSoftware ? ' (software)' : ''}; ${shapes.length} GEMM shapes (${weights} weights, batch ${flags.batch.join(',')}), ${attentionShapes.length} attention, ` +
        `${rowShapes.length} row-kernel and ${searchShapes.length} search, budget ${flags.budget} s`);
      // Attention, the row kernels and the search first (milliseconds a shape), the GEMMs in the rest of the budget.
      const table = await tuneModelShapes(gpu, shapes.filter((s) => !existing?.gemm[gemmShapeKey(s.dtype, s.rows, s.k, s.n)]), attentionShapes, {
        budgetMs: Math.max(0, flags.budget * 1000 - (performance.now() - started)),
        repeats: flags.repeats,
        into: existing ?? undefined,
        onAttentionShape(_shape, key, result) {
          if (!result) log(`  attention ${key}: not reached within the budget (keeps the default)`);
          else log(`  attention ${key}: ${result.kernel}  (${Object.entries(result.ms).sort((a, b) => a[1] - b[1]).map(([kernel, ms]) => `${kernel} ${ms.toFixed(2)} ms`).join(', ')})`);
        },
        rowShapes,
        onRowShape(shape, key, result) {
          if (!result) log(`  ${key}: not reached within the budget (keeps the default)`);
          else log(`  ${key}: ${result.strategy}  (${ranked(result.ms).map(([strategy, ms]) => `${strategy} ${ms.toFixed(3)} ms`).join(', ')}; ${shape.rows}×${shape.cols})`);
        },
        searchShapes,
        onSearchShape(_shape, key, result) {
          if (!result) log(`  ${key}: not reached within the budget (keeps the default)`);
          else log(`  ${key}: ${result.scores === 'gemm' ? 'scores by GEMM' : `${result.tilesPerWorkgroup} tiles/workgroup`}  (${ranked(result.ms).slice(0, 4).map(([tiles, ms]) => `${tiles}: ${ms.toFixed(2)} ms`).join(', ')})`);
        },
        onShape(shape, key, result) {
          if (!result) {
            log(`  ${key}: not reached within the budget (keeps the default)`);
            return;
          }
          const flops = gemmFlops(shape.rows, shape.k, shape.n);
          log(`  ${key}: ${result.variant}  (${ranked(result.ms).slice(0, 4).map(([name, ms]) => `${name} ${(flops / ms / 1e6).toFixed(1)}`).join(', ')} GFLOPS)`);
        },
      });
      const where = await saveTuningTable(gpu, table, { store });
      const counts = `${Object.keys(table.gemm).length} GEMM, ${Object.keys(table.attention ?? {}).length} attention, ${Object.keys(table.rows ?? {}).length} row-kernel and ${Object.keys(table.search ?? {}).length} search shapes`;
      console.log(`tuning table: ${where} (${counts}, ${((performance.now() - started) / 1000).toFixed(1)} s)`);
    });
}
