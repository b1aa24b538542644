/**
 * Text queries ("a beach with palm trees"): CLIP's text tower → GeoCLIP's image MLP → L2-normalize, the
 * same path the concept bank takes (CLIP places text and images in one space, and the MLP was trained on
 * that space), so a prompt searches the gallery exactly as a photo does. The text tower is loaded on the
 * first query, from the same CLIPModel checkpoint that holds the vision tower.
 */
import { ClipTextModel, CLIP_TEXT_PRESETS, type ClipTextConfig } from '../model/clip/text.js';
import type { GeoClip } from '../model/geoclip/geoclip.js';
import { CLIP_VOCAB_URL, ClipTokenizer } from '../model/clip/tokenizer.js';
import { GeolensError, type Gpu, type Tensor } from '../runtime/index.js';
import { downloadWeights, loadJson, parseClipTextConfig } from '../weights/index.js';
import { checkedDownload, DEFAULT_LOCATIONS, downloadOptions, openLocation, type GeoLocatorOptions } from './geolocator.js';

export class TextQueryEncoder {
  private tower: Promise<ClipTextModel> | null = null;

  constructor(
    private readonly gpu: Gpu,
    private readonly options: GeoLocatorOptions,
  ) {}

  /** Prompts → GeoCLIP embeddings [n, 512], L2-normalized. Throws naming an empty or non-text prompt. */
  async embed(geoclip: GeoClip, prompts: readonly string[]): Promise<Tensor> {
    if (prompts.length === 0) throw new GeolensError('locateText: no prompts given');
    prompts.forEach((prompt, i) => {
      if (typeof prompt !== 'string' || prompt.trim() === '') throw new GeolensError(`locateText: prompt ${i} is ${typeof prompt === 'string' ? 'empty' : `a ${typeof prompt}, not text`}`);
    });
    // A failed load is not cached: the next call tries again (e.g. after going online).
    this.tower ??= this.load().catch((error: unknown) => {
      this.tower = null;
      throw error;
    });
    const text = await this.tower;
    const features = text.textFeatures(prompts);
    try {
      return geoclip.imageEmbeddings(features);
    } finally {
      features.release();
    }
  }

  async release(): Promise<void> {
    const tower = this.tower;
    this.tower = null;
    if (tower) (await tower.catch(() => null))?.release();
  }

  private async load(): Promise<ClipTextModel> {
    const options = this.options;
    const download = downloadOptions(options);
    const progress = options.onProgress ?? (() => {});
    const config = await textConfig(options, download);
    const vocabulary = options.vocabulary ?? CLIP_VOCAB_URL;
    const tokenizer = await ClipTokenizer.load(typeof vocabulary === 'string' && /^(https?|hf):/.test(vocabulary) ? await downloaded(vocabulary, download) : vocabulary);
    progress({ stage: 'weights', what: 'CLIP text tower', done: 0, total: 1 });
    const given = options.clipWeights ?? DEFAULT_LOCATIONS.clipWeights;
    const source = await openLocation(given, download);
    try {
      const model = await ClipTextModel.load(this.gpu, source, config, { dtype: options.dtype, tokenizer });
      progress({ stage: 'weights', what: 'CLIP text tower', done: 1, total: 1 });
      return model;
    } finally {
      if (!(typeof given === 'object' && 'tensors' in given)) await source.close();
    }
  }
}

/** The text half of the configured CLIP: from a full config (text_config), else ViT-L/14's shapes. */
async function textConfig(options: GeoLocatorOptions, download: object): Promise<ClipTextConfig> {
  const given = options.clipConfig ?? (options.clipWeights ? undefined : DEFAULT_LOCATIONS.clipConfig);
  const json = typeof given === 'string' || given instanceof URL ? await loadJson(given, download) : given;
  if (json && typeof json === 'object' && 'text_config' in json) return parseClipTextConfig(json, 'CLIP config (text_config)');
  return parseClipTextConfig(CLIP_TEXT_PRESETS['ViT-L/14']);
}

async function downloaded(url: string, download: ReturnType<typeof downloadOptions>): Promise<Uint8Array> {
  const cached = await downloadWeights(url, checkedDownload(url, download));
  if (typeof cached !== 'string') return new Uint8Array(await cached.arrayBuffer());
  const { readFile } = await import('node:fs/promises');
  return new Uint8Array(await readFile(cached));
}
