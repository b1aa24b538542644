// Messages between a page and the geolens worker (examples/browser/worker.ts); the extension speaks it too.
import type { LoadProgress, LocateResult } from '../../src/api/index.js';

/** Where each model file comes from: a URL (relative to the page) or a file the user dropped. Empty: the default. */
export interface WeightSettings {
  clip?: string | File;
  clipConfig?: string | File;
  geoclip?: string | File;
  gallery?: string | File;
  concepts?: string | File;
  f16?: boolean;
}

export interface LocateRequestOptions {
  topK?: number;
  /** false: GeoCLIP's own ranking even when a concept bank is loaded. */
  explain?: boolean;
  /** Merge radius in km; null lists raw gallery rows. Default 25. */
  mergeKm?: number | null;
  /** Heat-map cells (default 360 × 180); null skips it. */
  heatmap?: { width: number; height: number } | null;
}

export type ToWorker =
  | { type: 'load'; settings: WeightSettings }
  | { type: 'locate'; id: number; image: Blob | Uint8Array; options?: LocateRequestOptions };

export interface FileSize {
  what: string;
  /** Bytes, or null when the server does not say. */
  bytes: number | null;
}

export type FromWorker =
  | { type: 'sizes'; files: FileSize[] }
  | { type: 'progress'; progress: LoadProgress }
  | { type: 'ready'; adapter: string; loadMs: number; stages: Record<string, number>; galleryFromCache: boolean; concepts: boolean }
  | { type: 'load-error'; message: string }
  | { type: 'result'; id: number; result: LocateResult; ms: number }
  | { type: 'locate-error'; id: number; message: string };
