import { ClipTextModel, CLIP_TEXT_PRESETS } from '../model/clip/text.js';
import { buildConceptBank, conceptBankToSafetensors, loadConceptBank, mergeConceptBanks, type ConceptBank } from '../model/concepts/bank.js';
import { customConceptPrompts, DEFAULT_CONCEPT_PROMPTS, type ConceptPrompt } from '../model/concepts/prompts.js';
import { CLIP_VOCAB_URL, ClipTokenizer } from '../model/clip/tokenizer.js';
import { getDevice, type Gpu } from '../runtime/index.js';
import { downloadWeights, loadJson, parseClipConfig, parseClipTextConfig, type ClipTextConfig, type OpenOptions } from '../weights/index.js';
import { checkedDownload, DEFAULT_LOCATIONS, downloadOptions, loadGeoClip, openLocation, type GeoClipWeights, type LoadProgress, type WeightLocation } from './geolocator.js';

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
  const progress = options.onProgress ?? (() => {});
  const download = downloadOptions(options);
  const config = await resolveTextConfig(options.clipConfig ?? (options.clipWeights ? CLIP_TEXT_PRESETS['ViT-L/14'] : DEFAULT_LOCATIONS.clipConfig), download);
  const vocabulary = options.vocabulary ?? CLIP_VOCAB_URL;
  const tokenizer = await ClipTokenizer.load(typeof vocabulary === 'string' && /^https?:/.test(vocabulary) ? await readDownloaded(vocabulary, download) : vocabulary);

  progress({ stage: 'weights', what: 'CLIP text tower', done: 0, total: 1 });
  const source = await openLocation(options.clipWeights ?? DEFAULT_LOCATIONS.clipWeights, download);
  let text: ClipTextModel;
  try {
    text = await ClipTextModel.load(gpu, source, config, { dtype: options.dtype, tokenizer });
  } finally {
    if (!(typeof options.clipWeights === 'object' && 'tensors' in options.clipWeights)) await source.close();
  }
  progress({ stage: 'weights', what: 'CLIP text tower', done: 1, total: 1 });
  const geoclip = await loadGeoClip(gpu, options.geoclipWeights ?? DEFAULT_LOCATIONS.geoclip, download);
  try {
    const prompts = [...(options.prompts ?? DEFAULT_CONCEPT_PROMPTS), ...customConceptPrompts(options.extraTexts ?? [])];
    const built = await buildConceptBank(
      (texts) => text.textFeatures(texts),
      (features) => geoclip.imageEmbeddings(features),
      prompts,
    );
    if (!options.baseBank) return built;
    const base = typeof options.baseBank === 'object' && 'names' in options.baseBank ? options.baseBank : await loadConceptBank(options.baseBank);
    return mergeConceptBanks(base, built);
  } finally {
    text.release();
    geoclip.release();
  }
}

export { conceptBankToSafetensors, loadConceptBank, DEFAULT_CONCEPT_PROMPTS, type ConceptBank, type ConceptPrompt };

async function resolveTextConfig(config: string | URL | Record<string, unknown>, download: object): Promise<ClipTextConfig> {
  const json = typeof config === 'string' || config instanceof URL ? await loadJson(config, download) : config;
  return 'text_config' in (json as object) ? parseClipConfig(json).text : parseClipTextConfig(json);
}

async function readDownloaded(url: string, download: OpenOptions): Promise<Uint8Array> {
  const cached = await downloadWeights(url, checkedDownload(url, download));
  if (typeof cached !== 'string') return new Uint8Array(await cached.arrayBuffer());
  const { readFile } = await import('node:fs/promises');
  return new Uint8Array(await readFile(cached));
}
