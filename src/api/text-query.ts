/**
 * Text queries ("a beach with palm trees"): CLIP's text tower → GeoCLIP's image MLP → L2-normalize, the
 * same path the concept bank takes (CLIP places text and images in one space, and the MLP was trained on
 * that space), so a prompt searches the gallery exactly as a photo does. The text tower is loaded on the
 * first query, from the same CLIPModel checkpoint that holds the vision tower.
 */
import type { ClipTextModel } from '../model/clip/text.js';
import type { GeoClip } from '../model/geoclip/geoclip.js';
import { GeolensError, type Gpu, type Tensor } from '../runtime/index.js';
import { loadTextTower } from './loaders.js';
import type { GeoLocatorOptions } from './options.js';
import { downloadOptions } from './sources.js';

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

  private load(): Promise<ClipTextModel> {
    return loadTextTower(this.gpu, { ...this.options, bareConfig: 'vision' }, downloadOptions(this.options));
  }
}
