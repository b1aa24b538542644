import { dispatchSearch } from '../kernels/search.js';
import type { PipelineRequest } from '../runtime/index.js';
import type { ClipVisionModel } from './clip/vision.js';
import type { ConceptModule } from './concepts/module.js';
import type { Gallery } from './geoclip/gallery.js';
import type { GeoClip } from './geoclip/geoclip.js';

export interface WarmupPlan {
  clip: ClipVisionModel;
  geoclip: GeoClip;
  gallery: Gallery;
  concepts?: ConceptModule | null;
  /** Images per micro-batch: every batch size from 1 to this is planned (their GEMM tails and search blocks differ). */
  maxBatch: number;
  /** Places per image the plan assumes (search keeps 64 slots for any k ≤ 64, so one value covers those). */
  topK?: number;
  /** First-stage candidates re-ranked by concepts. */
  rerankCandidates?: number;
}

/**
 * Every pipeline that locating micro-batches of 1…maxBatch images and embedding GPS points will dispatch,
 * found by a dry run of the models (Gpu.plan): nothing is allocated or computed. Compile the list with
 * gpu.pipelines.prepare() and no later locate of those sizes compiles anything.
 */
export function plannedPipelines(plan: WarmupPlan): PipelineRequest[] {
  const { clip, geoclip, gallery, concepts } = plan;
  const gpu = clip.gpu;
  const size = clip.config.image_size;
  const k = Math.min(plan.topK ?? 5, gallery.size);
  return gpu.plan(() => {
    for (let batch = 1; batch <= plan.maxBatch; batch++) {
      const pixels = gpu.empty([batch, clip.config.num_channels, size, size], 'f32', 'plan.pixels');
      const features = clip.imageFeatures(pixels);
      const embeddings = geoclip.imageEmbeddings(features);
      if (concepts) {
        const candidates = Math.min(Math.max(plan.rerankCandidates ?? 100, k), gallery.size);
        dispatchSearch(embeddings, gallery.chunks, { k: candidates, scale: gallery.scale }).release();
        const gathered = gpu.empty([batch * candidates, gallery.dim], 'f32', 'plan.candidates');
        concepts.rerank(embeddings, gathered, new Uint32Array(batch * candidates), { candidatesPerQuery: candidates }).release();
      }
      dispatchSearch(embeddings, gallery.chunks, { k, scale: gallery.scale }).release();
    }
    // Location embeddings: a block of 16 rows takes the widest register GEMM, 1 and 5 rows its 4- and 8-row tails.
    for (const rows of [1, 5, 16]) geoclip.locationEncoder.embed(new Float32Array(rows * 2)).release();
  });
}
