// The API's model loaders, one per part: CLIP's vision tower, CLIP's text tower (locateText and concept
// banks share it) and GeoCLIP's heads. Each opens what it is given, checks the file is the part it is
// asked for, reports bytes read as 'weights' progress, and closes what it opened.
import { ClipTextModel, CLIP_TEXT_PRESETS } from '../model/clip/text.js';
import { ClipVisionModel, type ClipVisionConfig } from '../model/clip/vision.js';
import { ClipTokenizer } from '../model/clip/tokenizer.js';
import { GeoClip, type GeoClipSources } from '../model/geoclip/geoclip.js';
import type { Gpu } from '../runtime/index.js';
import {
  describeVisionConfig, expectCheckpoint, inferClipVisionConfig, loadJson, parseClipConfig, parseClipTextConfig, parseClipVisionConfig, withReadProgress,
  type CheckpointKind, type ClipTextConfig, type OpenOptions, type WeightSource,
} from '../weights/index.js';
import { embeddedClipConfig } from '../weights/convert.js';
import {
  DEFAULT_LOCATIONS, describeLocation, isOpenedSource, openLocation, vocabularyFile, withSource,
  type GeoClipWeights, type LoadProgress, type WeightLocation,
} from './sources.js';

export type WeightDtype = 'f32' | 'f16' | 'q8' | 'q4';

/** A CLIP config as the options take it: a location of HF config.json, or a parsed config (full, vision or text). */
export type ClipConfigInput = string | URL | ClipVisionConfig | ClipTextConfig | Record<string, unknown>;

interface PartOptions {
  /** Undefined lets a converted file load in the scheme it was written in (f32 otherwise). */
  dtype?: WeightDtype;
  onProgress?: (progress: LoadProgress) => void;
}

/** `source`, reporting its bytes as they are read (all tensors, or those `reads` picks). */
function tracked(source: WeightSource, what: string, options: PartOptions, reads?: (name: string) => boolean): WeightSource {
  const progress = options.onProgress;
  return progress ? withReadProgress(source, (done, total) => progress({ stage: 'weights', what, done, total }), reads) : source;
}

/**
 * CLIP's vision tower. The config comes from `clipConfig` when given (or for the default weights), else
 * from the file itself (written by `geolens convert`), else it is inferred from the tensor shapes.
 */
export async function loadClipVision(gpu: Gpu, options: { clipWeights?: WeightLocation; clipConfig?: ClipConfigInput } & PartOptions, download: OpenOptions,
  log: (message: string) => void): Promise<ClipVisionModel> {
  const location = options.clipWeights ?? DEFAULT_LOCATIONS.clipWeights;
  const what = `CLIP weights ${describeLocation(location)}`;
  return withSource(location, download, async (source) => {
    expectCheckpoint(source.tensors, ['clip-vision', 'clip'], what);
    const embedded = options.clipConfig ? undefined : embeddedClipConfig(source);
    let config: ClipVisionConfig;
    if (options.clipConfig || !options.clipWeights) config = await visionConfig(options.clipConfig ?? DEFAULT_LOCATIONS.clipConfig, download);
    else if (embedded) config = await visionConfig(embedded, download);
    else {
      config = inferClipVisionConfig(source.tensors, what);
      log(`geolens: no CLIP config given; inferred from the weights: ${describeVisionConfig(config)}`);
    }
    const isVision = (name: string) => name.startsWith('vision_model.') || name === 'visual_projection.weight';
    return ClipVisionModel.load(gpu, tracked(source, `CLIP vision tower (${describeLocation(location)})`, options, isVision), config, { dtype: options.dtype });
  });
}

async function visionConfig(config: ClipConfigInput, download: OpenOptions): Promise<ClipVisionConfig> {
  const json = typeof config === 'string' || config instanceof URL ? await loadJson(config, download) : config;
  return 'vision_config' in (json as object) ? parseClipConfig(json).vision : parseClipVisionConfig(json);
}

export interface TextTowerOptions extends PartOptions {
  clipWeights?: WeightLocation;
  clipConfig?: ClipConfigInput;
  vocabulary?: string | URL | Uint8Array;
  /**
   * What a config without `text_config` is: a text config (concept-bank builds take one), or the vision
   * config GeoLocator was given, in which case the text tower has ViT-L/14's shapes.
   */
  bareConfig: 'text' | 'vision';
}

/** CLIP's text tower and tokenizer, from the CLIPModel checkpoint that holds the vision tower too. */
export async function loadTextTower(gpu: Gpu, options: TextTowerOptions, download: OpenOptions): Promise<ClipTextModel> {
  const config = await textConfig(options, download);
  const tokenizer = await ClipTokenizer.load(await vocabularyFile(options.vocabulary, download));
  const progress = options.onProgress ?? (() => {});
  progress({ stage: 'weights', what: 'CLIP text tower', done: 0, total: 1 });
  const model = await withSource(options.clipWeights ?? DEFAULT_LOCATIONS.clipWeights, download,
    (source) => ClipTextModel.load(gpu, source, config, { dtype: options.dtype, tokenizer }));
  progress({ stage: 'weights', what: 'CLIP text tower', done: 1, total: 1 });
  return model;
}

async function textConfig(options: TextTowerOptions, download: OpenOptions): Promise<ClipTextConfig> {
  // Default weights come with the default config; other weights without a config get ViT-L/14's text shapes.
  const given = options.clipConfig ?? (options.clipWeights ? undefined : DEFAULT_LOCATIONS.clipConfig);
  const json = typeof given === 'string' || given instanceof URL ? await loadJson(given, download) : given;
  if (json && typeof json === 'object' && 'text_config' in json) return parseClipConfig(json).text;
  if (json && options.bareConfig === 'text') return parseClipTextConfig(json);
  return parseClipTextConfig(CLIP_TEXT_PRESETS['ViT-L/14']);
}

/** GeoCLIP's heads from one checkpoint or the three original files; sources opened here are closed again. */
export async function loadGeoClip(gpu: Gpu, location: WeightLocation | GeoClipWeights, download: OpenOptions = {}, options: PartOptions = {}): Promise<GeoClip> {
  const dtype = options.dtype;
  if (!isSplitGeoClip(location)) {
    return withSource(location, download, (source) => {
      expectCheckpoint(source.tensors, ['geoclip-heads'], `GeoCLIP checkpoint ${describeLocation(location)}`);
      return GeoClip.load(gpu, tracked(source, `GeoCLIP heads (${describeLocation(location)})`, options), { dtype });
    });
  }
  const opened: [WeightSource, WeightLocation][] = [];
  const open = async (where: WeightLocation, role: string, kind: CheckpointKind) => {
    const source = await openLocation(where, download);
    opened.push([source, where]);
    expectCheckpoint(source.tensors, [kind, 'geoclip-heads'], `${role} ${describeLocation(where)}`);
    return tracked(source, `${role} (${describeLocation(where)})`, options);
  };
  try {
    const sources: GeoClipSources = {
      imageMlp: await open(location.imageMlp, 'GeoCLIP image MLP', 'geoclip-image-mlp'),
      locationEncoder: await open(location.locationEncoder, 'GeoCLIP location encoder', 'geoclip-location-encoder'),
      logitScale: typeof location.logitScale === 'number' ? location.logitScale : await open(location.logitScale, 'GeoCLIP logit scale', 'geoclip-logit-scale'),
    };
    return await GeoClip.load(gpu, sources, { dtype });
  } finally {
    for (const [source, where] of opened) if (!isOpenedSource(where)) await source.close();
  }
}

function isSplitGeoClip(value: WeightLocation | GeoClipWeights): value is GeoClipWeights {
  return typeof value === 'object' && !(value instanceof URL) && !(value instanceof Uint8Array) && 'imageMlp' in value;
}
