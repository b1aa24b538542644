import {
  conceptProbabilities,
  conceptRerank,
  foldConceptProjection,
  type ConceptRerankResult,
  type ConceptSimilarity,
} from '../../kernels/concept.js';
import { formatShape, GeolensError, ShapeError, type Gpu, type Tensor } from '../../runtime/index.js';
import { openWeights } from '../../weights/index.js';
import { ConceptBankError, encodeSafetensors, type ConceptBank } from './bank.js';

/**
 * Concept-aware alignment (after Hou et al. 2025, arXiv 2509.01910): image and place embeddings
 * are both described as distributions over a bank of geographic concepts, and GeoCLIP's candidates are
 * re-ranked by how well those descriptions agree:
 *
 *   s_img = softmax(P_img(ẑ_img) · Cᵀ / τ)        s_loc = softmax(P_loc(ẑ_loc) · Cᵀ / τ)
 *   score_j = cos(ẑ_img, ẑ_loc_j) + λ · sim(s_img, s_loc_j)
 *
 * with C = bank + Δ. docs/CONCEPTS.md gives the defaults and the reasons for them.
 */

export interface ConceptModuleOptions {
  /** Concept softmax temperature τ (default 0.01, CLIP's own logit scale of 100). */
  tau?: number;
  /** Weight λ of the concept agreement in the re-ranking score (default 0.1). */
  lambda?: number;
  /** How concept distributions are compared (default Bhattacharyya coefficient). */
  similarity?: ConceptSimilarity;
}

export const DEFAULT_CONCEPT_OPTIONS: Required<ConceptModuleOptions> = { tau: 0.01, lambda: 0.1, similarity: 'bhattacharyya' };

/** Learned parts of the module; a null projection is the identity, a null delta is zero. */
export interface ConceptParams {
  dim: number;
  concepts: number;
  /** [D, D] nn.Linear layout (u = W·z + b). */
  imageWeight: Float32Array | null;
  imageBias: Float32Array | null;
  locationWeight: Float32Array | null;
  locationBias: Float32Array | null;
  /** [K, D] residual added to the bank's vectors. */
  delta: Float32Array | null;
  /** Options the parameters were fitted with; the module uses them unless told otherwise. */
  options?: ConceptModuleOptions;
  /** Concept names the parameters were fitted against (checked against the bank on load). */
  names?: readonly string[];
}

export function identityConceptParams(dim: number, concepts: number): ConceptParams {
  return { dim, concepts, imageWeight: null, imageBias: null, locationWeight: null, locationBias: null, delta: null };
}

/** A re-ranking read back to the host: per query, candidates best first. */
export interface RankedPlace {
  /** Row of the gallery (GeoCLIP's GPS gallery) this place is. */
  galleryRow: number;
  /** Position in the candidate list that was re-ranked (the first-stage rank). */
  candidateSlot: number;
  score: number;
  cosine: number;
  conceptSimilarity: number;
}

export interface ConceptWeight {
  name: string;
  /** Probability under the distribution it came from. */
  probability: number;
}

export interface ConceptAgreement {
  name: string;
  /** Share of the similarity this concept contributes (the shares of all K concepts sum to 1). */
  share: number;
  image: number;
  place: number;
}

export interface PlaceExplanation extends RankedPlace {
  rank: number;
  /** The image's top concepts (the same for every place of a query). */
  imageConcepts: ConceptWeight[];
  placeConcepts: ConceptWeight[];
  /** Concepts that contribute most to the agreement between image and place. */
  agreement: ConceptAgreement[];
}

/** GPU results of ConceptModule.rerank; release() frees them. */
export interface ConceptRanking extends ConceptRerankResult {
  queries: number;
  candidates: number;
  /** [B, K] concept distribution of each image. */
  imageProbs: Tensor;
  /**
   * Concept distributions of the places: [B·T, K] in candidate order, or the caller's [N, K] gallery
   * distributions (one per gallery row) when the ranking was given them.
   */
  placeProbs: Tensor;
  placeProbsByGalleryRow: boolean;
  release(): void;
}

export class ConceptModule {
  readonly options: Required<ConceptModuleOptions>;
  readonly dim: number;
  private readonly concepts: Tensor;
  /** Each side's concept matrix with its projection folded in (see concept-project.wgsl). */
  private readonly image: { concepts: Tensor; conceptBias?: Tensor };
  private readonly location: { concepts: Tensor; conceptBias?: Tensor };

  constructor(
    readonly gpu: Gpu,
    readonly bank: ConceptBank,
    params: ConceptParams | null = null,
    options: ConceptModuleOptions = {},
  ) {
    this.dim = bank.dim;
    const k = bank.names.length;
    const p = params ?? identityConceptParams(bank.dim, k);
    if (p.dim !== bank.dim || p.concepts !== k) {
      throw new ShapeError(`ConceptModule: parameters for [${p.concepts}, ${p.dim}] concepts do not fit a bank of [${k}, ${bank.dim}]`);
    }
    if (p.names && p.names.some((name, i) => name !== bank.names[i])) {
      const i = p.names.findIndex((name, j) => name !== bank.names[j]);
      throw new ConceptBankError(`ConceptModule: parameters were fitted for concept '${p.names[i]}' at row ${i}, the bank has '${bank.names[i]}'`);
    }
    this.options = { ...DEFAULT_CONCEPT_OPTIONS, ...p.options, ...options };
    const d = bank.dim;
    let vectors = bank.vectors;
    if (p.delta) {
      checkLength('delta', p.delta, k * d, [k, d]);
      vectors = vectors.map((v, i) => v + p.delta![i]!);
    }
    this.concepts = gpu.upload(vectors, [k, d], 'f32', 'concept.vectors');
    this.image = this.uploadProjection('image', p.imageWeight, p.imageBias);
    this.location = this.uploadProjection('location', p.locationWeight, p.locationBias);
  }

  /** Loads parameters written by fitConcepts / conceptParamsToSafetensors. */
  static async load(gpu: Gpu, bank: ConceptBank, location: string | URL | Uint8Array, options: ConceptModuleOptions = {}): Promise<ConceptModule> {
    return new ConceptModule(gpu, bank, await loadConceptParams(location), options);
  }

  get conceptCount(): number {
    return this.bank.names.length;
  }

  /** s_img for image embeddings [B, D] → [B, K]. */
  imageConcepts(embeddings: Tensor): Tensor {
    return conceptProbabilities(embeddings, this.image.concepts, { tau: this.options.tau, conceptBias: this.image.conceptBias });
  }

  /** s_loc for location embeddings [N, D] → [N, K], or for the gallery rows named by `rows` → [R, K]. */
  locationConcepts(embeddings: Tensor, rows?: Tensor): Tensor {
    return conceptProbabilities(embeddings, this.location.concepts, { tau: this.options.tau, indices: rows, conceptBias: this.location.conceptBias });
  }

  /**
   * s_loc of every gallery row, [N, K]: a property of the gallery, so compute it once and pass it to
   * rerank() as `galleryProbs` when many queries share one gallery.
   */
  galleryConcepts(gallery: Tensor): Tensor {
    return this.locationConcepts(gallery);
  }

  /**
   * Re-ranks first-stage candidates on the GPU: for each image b and candidate gallery row g,
   * score = cos(image_b, gallery_g) + λ·sim(s_img_b, s_loc_g), sorted best first.
   * images [B, D]; gallery [N, D] (GeoCLIP's location embeddings of the GPS gallery);
   * candidates [B, T] rows (a u32/i32 tensor, or host indices such as searchTopK's `indices`).
   * Without `galleryProbs` the T candidates' s_loc are computed here (one fused dispatch over B·T rows).
   */
  rerank(
    images: Tensor,
    gallery: Tensor,
    candidates: Tensor | Uint32Array | Int32Array,
    options: { candidatesPerQuery?: number; galleryProbs?: Tensor } = {},
  ): ConceptRanking {
    const b = images.shape[0]!;
    if (images.rank !== 2) throw new ShapeError(`ConceptModule.rerank: images must be [B, D], got ${formatShape(images.shape)}`);
    const perQuery = options.candidatesPerQuery;
    let candidateTensor: Tensor;
    let ownCandidates = false;
    if (candidates instanceof Uint32Array || candidates instanceof Int32Array) {
      const t = perQuery ?? candidates.length / b;
      if (!Number.isInteger(t) || t * b !== candidates.length) {
        throw new ShapeError(`ConceptModule.rerank: ${candidates.length} candidate indices do not split into ${b} queries${perQuery ? ` of ${perQuery}` : ''}`);
      }
      const n = gallery.shape[0]!;
      const bad = candidates.findIndex((row) => row < 0 || row >= n);
      if (bad >= 0) throw new ShapeError(`ConceptModule.rerank: candidate ${bad} is gallery row ${candidates[bad]}, outside gallery ${formatShape(gallery.shape)}`);
      candidateTensor = this.gpu.upload(new Uint32Array(candidates), [b, t], 'u32', 'concept.candidates');
      ownCandidates = true;
    } else {
      candidateTensor = candidates.rank === 2 ? candidates : candidates.reshape([b, candidates.size / b]);
    }
    const t = candidateTensor.shape[1]!;
    const imageProbs = this.imageConcepts(images);
    const byRow = !!options.galleryProbs;
    const placeProbs = options.galleryProbs ?? this.locationConcepts(gallery, candidateTensor.reshape([b * t]));
    const result = conceptRerank(images, gallery, candidateTensor, imageProbs, placeProbs, {
      lambda: this.options.lambda,
      similarity: this.options.similarity,
      probsByGalleryRow: byRow,
    });
    if (ownCandidates) candidateTensor.release();
    return {
      ...result,
      queries: b,
      candidates: t,
      imageProbs,
      placeProbs,
      placeProbsByGalleryRow: byRow,
      release() {
        for (const tensor of [result.scores, result.ids, result.parts, imageProbs]) tensor.release();
        if (!byRow) placeProbs.release();
      },
    };
  }

  /** Reads a ranking back: for each query, its candidates best first. */
  async readRanking(ranking: ConceptRanking): Promise<RankedPlace[][]> {
    const { queries: b, candidates: t } = ranking;
    const [scores, ids, parts] = await Promise.all([ranking.scores.read(), this.gpu.readRaw(ranking.ids), ranking.parts.read()]);
    const idWords = new Uint32Array(ids);
    const out: RankedPlace[][] = [];
    for (let q = 0; q < b; q++) {
      const places: RankedPlace[] = [];
      for (let r = 0; r < t; r++) {
        const slot = idWords[q * t + r]!;
        places.push({
          galleryRow: idWords[b * t + q * t + r]!,
          candidateSlot: slot,
          score: scores[q * t + r]!,
          cosine: parts[q * t + slot]!,
          conceptSimilarity: parts[b * t + q * t + slot]!,
        });
      }
      out.push(places);
    }
    return out;
  }

  /**
   * Plain-data explanations of the top `places` predictions of each query: the image's and each place's
   * strongest concepts, and which concepts carry their agreement.
   */
  async explain(ranking: ConceptRanking, options: { places?: number; concepts?: number } = {}): Promise<PlaceExplanation[][]> {
    const places = options.places ?? 5;
    const top = options.concepts ?? 5;
    const k = this.conceptCount;
    const [ranked, imageProbs, placeProbs] = await Promise.all([this.readRanking(ranking), ranking.imageProbs.read(), ranking.placeProbs.read()]);
    return ranked.map((list, q) => {
      const p = imageProbs.subarray(q * k, (q + 1) * k);
      const imageConcepts = topConcepts(this.bank.names, p, top);
      return list.slice(0, places).map((place, rank) => {
        const row = ranking.placeProbsByGalleryRow ? place.galleryRow : q * ranking.candidates + place.candidateSlot;
        const s = placeProbs.subarray(row * k, (row + 1) * k);
        return {
          ...place,
          rank,
          imageConcepts,
          placeConcepts: topConcepts(this.bank.names, s, top),
          agreement: conceptAgreement(this.bank.names, p, s, this.options.similarity).slice(0, top),
        };
      });
    });
  }

  release(): void {
    const all = [this.concepts, this.image.concepts, this.image.conceptBias, this.location.concepts, this.location.conceptBias];
    for (const t of new Set(all)) t?.release();
  }

  private uploadProjection(side: string, weight: Float32Array | null, bias: Float32Array | null): { concepts: Tensor; conceptBias?: Tensor } {
    const d = this.dim;
    if (!weight && !bias) return { concepts: this.concepts };
    if (weight) checkLength(`${side} weight`, weight, d * d, [d, d]);
    if (bias) checkLength(`${side} bias`, bias, d, [d]);
    const w = weight ? this.gpu.upload(weight, [d, d], 'f32', `concept.${side}.weight`) : undefined;
    const b = bias ? this.gpu.upload(bias, [d], 'f32', `concept.${side}.bias`) : undefined;
    const folded = foldConceptProjection(this.concepts, w, b);
    w?.release();
    b?.release();
    return { concepts: folded.concepts, conceptBias: folded.bias };
  }
}

/** The `count` most probable concepts of a distribution, highest first (ties by bank order). */
export function topConcepts(names: readonly string[], probs: ArrayLike<number>, count: number): ConceptWeight[] {
  return [...names.keys()]
    .sort((a, b) => probs[b]! - probs[a]! || a - b)
    .slice(0, count)
    .map((k) => ({ name: names[k]!, probability: probs[k]! }));
}

/**
 * Each concept's share of sim(p, q), highest first: √(p_k q_k) / Σ√(p q) for the Bhattacharyya
 * coefficient, p_k q_k / Σ p q for the cosine (whose normalization is common to all terms).
 */
export function conceptAgreement(names: readonly string[], p: ArrayLike<number>, q: ArrayLike<number>, similarity: ConceptSimilarity): ConceptAgreement[] {
  const terms = names.map((_, k) => (similarity === 'bhattacharyya' ? Math.sqrt(p[k]! * q[k]!) : p[k]! * q[k]!));
  const total = terms.reduce((a, b) => a + b, 0);
  return [...names.keys()]
    .sort((a, b) => terms[b]! - terms[a]! || a - b)
    .map((k) => ({ name: names[k]!, share: total > 0 ? terms[k]! / total : 0, image: p[k]!, place: q[k]! }));
}

/** Tensor names in a concept-module parameter file. */
export const CONCEPT_PARAM_TENSORS = {
  imageWeight: 'image_projection.weight',
  imageBias: 'image_projection.bias',
  locationWeight: 'location_projection.weight',
  locationBias: 'location_projection.bias',
  delta: 'concept_delta',
} as const;

/** Parameters as safetensors: present tensors only; options and concept names in metadata. */
export function conceptParamsToSafetensors(params: ConceptParams): Uint8Array {
  const d = params.dim;
  const k = params.concepts;
  const shapes = { imageWeight: [d, d], imageBias: [d], locationWeight: [d, d], locationBias: [d], delta: [k, d] } as const;
  const tensors: Record<string, { shape: readonly number[]; data: Float32Array }> = {};
  for (const key of Object.keys(CONCEPT_PARAM_TENSORS) as (keyof typeof CONCEPT_PARAM_TENSORS)[]) {
    const data = params[key];
    if (data) tensors[CONCEPT_PARAM_TENSORS[key]] = { shape: shapes[key], data };
  }
  const metadata: Record<string, string> = { format: 'geolens-concept-module', dim: String(d), concepts: String(k) };
  if (params.options) metadata.options = JSON.stringify(params.options);
  if (params.names) metadata.names = JSON.stringify(params.names);
  return encodeSafetensors(tensors, metadata);
}

export async function loadConceptParams(location: string | URL | Uint8Array): Promise<ConceptParams> {
  const source = await openWeights(location);
  try {
    const what = typeof location === 'string' ? location : location instanceof URL ? location.href : 'concept parameters';
    const meta = source.metadata;
    if (meta.format !== 'geolens-concept-module') throw new GeolensError(`${what}: not a concept-module file (metadata format is '${meta.format ?? 'missing'}')`);
    const d = Number(meta.dim);
    const k = Number(meta.concepts);
    const read = async (key: keyof typeof CONCEPT_PARAM_TENSORS, shape: number[]): Promise<Float32Array | null> => {
      const name = CONCEPT_PARAM_TENSORS[key];
      const info = source.tensors.get(name);
      if (!info) return null;
      if (info.shape.length !== shape.length || info.shape.some((v, i) => v !== shape[i])) {
        throw new ShapeError(`${what}: '${name}' has shape ${formatShape(info.shape)}, expected ${formatShape(shape)}`);
      }
      return source.readF32(name);
    };
    return {
      dim: d,
      concepts: k,
      imageWeight: await read('imageWeight', [d, d]),
      imageBias: await read('imageBias', [d]),
      locationWeight: await read('locationWeight', [d, d]),
      locationBias: await read('locationBias', [d]),
      delta: await read('delta', [k, d]),
      options: meta.options ? (JSON.parse(meta.options) as ConceptModuleOptions) : undefined,
      names: meta.names ? (JSON.parse(meta.names) as string[]) : undefined,
    };
  } finally {
    await source.close();
  }
}

function checkLength(what: string, data: Float32Array, expected: number, shape: number[]): void {
  if (data.length !== expected) throw new ShapeError(`ConceptModule: ${what} has ${data.length} values, expected ${formatShape(shape)}`);
}
