import { buildConceptBank, conceptBankToSafetensors, loadConceptBank, mergeConceptBanks, type ConceptBank } from '../model/concepts/bank.js';
import { customConceptPrompts, DEFAULT_CONCEPT_PROMPTS, type ConceptPrompt } from '../model/concepts/prompts.js';
import type { ClipTextModel } from '../model/clip/text.js';
import type { GeoClip } from '../model/geoclip/geoclip.js';
import { getDevice, type Gpu } from '../runtime/index.js';
import { loadGeoClip, loadTextTower } from './loaders.js';
import { DEFAULT_LOCATIONS, downloadOptions, type GeoClipWeights, type LoadProgress, type WeightLocation } from './sources.js';

export interface ConceptBankBuildOptions {
  /** CLIP weights holding the text tower (`text_model.*`, `text_projection.weight`). Default: ViT-L/14. */
  clipWeights?: WeightLocation;
  /** HF config.json (location or object) or a text config. Default: ViT-L/14's. */
  clipConfig?: string | URL | Record<string, unknown>;
  /** GeoCLIP heads (only the image MLP is used). Default: the release. */
  geoclipWeights?: WeightLocation | GeoClipWeights;
  /** CLIP's BPE vocabulary (bpe_simple_vocab_16e6.txt.gz). Default: the copy published with CLIP. */
  vocabulary?: string | URL | Uint8Array;
  /** Concepts to embed (default: the curated geographic list, docs/CONCEPTS.md). */
  prompts?: readonly (ConceptPrompt | string)[];
  /** Your own concept texts, appended to `prompts`. */
  extraTexts?: readonly string[];
  /** Start from this bank (a file or a bank) and append the embedded prompts to it. */
  baseBank?: string | URL | Uint8Array | ConceptBank;
  dtype?: 'f32' | 'f16' | 'q8' | 'q4';
  offline?: boolean;
  cacheDir?: string;
  onProgress?: (progress: LoadProgress) => void;
  gpu?: Gpu;
}

/**
 * Builds a concept bank as the concept-aware module defines it: each prompt's CLIP text features go
 * through GeoCLIP's image MLP (CLIP places text and images in one space) and are L2-normalized. Save it
 * with `conceptBankToSafetensors` and pass it to GeoLocator as `concepts.bank`.
 */
export async function buildConceptBankFromClip(options: ConceptBankBuildOptions = {}): Promise<ConceptBank> {
  const gpu = options.gpu ?? (await getDevice());
  const download = downloadOptions(options);
  let text: ClipTextModel | null = null;
  let geoclip: GeoClip | null = null;
  try {
    text = await loadTextTower(gpu, { ...options, bareConfig: 'text' }, download);
    geoclip = await loadGeoClip(gpu, options.geoclipWeights ?? DEFAULT_LOCATIONS.geoclip, download);
    const [tower, heads] = [text, geoclip];
    const prompts = [...(options.prompts ?? DEFAULT_CONCEPT_PROMPTS), ...customConceptPrompts(options.extraTexts ?? [])];
    const built = await buildConceptBank(
      (texts) => tower.textFeatures(texts),
      (features) => heads.imageEmbeddings(features),
      prompts,
    );
    if (!options.baseBank) return built;
    const base = typeof options.baseBank === 'object' && 'names' in options.baseBank ? options.baseBank : await loadConceptBank(options.baseBank);
    return mergeConceptBanks(base, built);
  } finally {
    text?.release();
    geoclip?.release();
  }
}

export { conceptBankToSafetensors, loadConceptBank, DEFAULT_CONCEPT_PROMPTS, type ConceptBank, type ConceptPrompt };
