// locate's concept step: GeoCLIP's first-stage candidates re-ranked by concept agreement, and each kept
// place explained by its concepts and those it shares with the image.
import type { ConceptModule } from '../model/concepts/module.js';
import { predict, type Gallery } from '../model/geoclip/gallery.js';
import type { GeoClip } from '../model/geoclip/geoclip.js';
import type { Tensor } from '../runtime/index.js';
import type { LocateResult } from './options.js';

export async function locateWithConcepts(geoclip: GeoClip, gallery: Gallery, concepts: ConceptModule, embeddings: Tensor, topK: number, candidates: number): Promise<LocateResult[]> {
  const firstStage = Math.min(Math.max(candidates, topK), gallery.size);
  const predictions = await predict(geoclip, embeddings, gallery, firstStage);
  // Candidate slot b·firstStage + j holds image b's j-th first-stage row.
  const rows = predictions.flatMap((row) => row.map((place) => place.galleryIndex));
  const slots = Uint32Array.from(rows, (_, slot) => slot);
  const gathered = gallery.gatherRows(rows, 'concept.candidates');
  try {
    const ranking = concepts.rerank(embeddings, gathered, slots, { candidatesPerQuery: firstStage });
    try {
      const explained = await concepts.explain(ranking, { places: topK });
      return explained.map((places, b) => ({
        imageConcepts: places[0]?.imageConcepts,
        places: places.slice(0, topK).map((place) => ({
          ...predictions[b]![place.candidateSlot]!,
          concepts: { place: place.placeConcepts, agreement: place.agreement, score: place.score },
        })),
      }));
    } finally {
      ranking.release();
    }
  } finally {
    gathered.release();
  }
}
