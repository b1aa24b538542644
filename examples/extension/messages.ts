// What the extension's pieces say to each other over chrome.runtime messaging (JSON only: typed arrays
// travel as plain arrays). The offscreen document holds the models; pages only ask it.
import type { LoadProgress, LocateResult } from '../../src/api/index.js';
import type { FileSize, WeightSettings } from '../browser/protocol.js';

/** Weight locations as the options page stores them (URLs only: chrome.storage holds no files). */
export type StoredSettings = Partial<Record<'clip' | 'clipConfig' | 'geoclip' | 'gallery' | 'concepts', string>> & { f16?: boolean };
export const SETTINGS_KEY = 'geolens-settings';

export async function readSettings(): Promise<StoredSettings> {
  const stored = await chrome.storage.local.get(SETTINGS_KEY);
  return (stored[SETTINGS_KEY] as StoredSettings | undefined) ?? {};
}

export function toWeightSettings(stored: StoredSettings): WeightSettings {
  const out: WeightSettings = { f16: stored.f16 };
  for (const key of ['clip', 'clipConfig', 'geoclip', 'gallery', 'concepts'] as const) if (stored[key]) out[key] = stored[key];
  return out;
}

/** A LocateResult whose heat map is a plain array, as messaging carries it. */
export type WireResult = Omit<LocateResult, 'heatmap'> & { heatmap?: { width: number; height: number; values: number[] } };

export type ToOffscreen =
  | { target: 'offscreen'; type: 'locate'; requestId: string; src: string }
  | { target: 'offscreen'; type: 'status' }
  | { target: 'offscreen'; type: 'reload' };

export interface OffscreenStatus {
  /** How many times models were loaded in this document (1 after the first use, unless settings changed). */
  loads: number;
  ready: boolean;
  adapter: string;
  loadMs: number;
  galleryFromCache: boolean;
  error: string | null;
  sizes: FileSize[];
  last: { src: string; result: WireResult; ms: number } | null;
}

export type ToPage =
  | { target: 'page'; type: 'progress'; progress: LoadProgress }
  | { target: 'page'; type: 'sizes'; files: FileSize[] }
  | { target: 'page'; type: 'result'; requestId: string; result: WireResult; ms: number; status: OffscreenStatus }
  | { target: 'page'; type: 'error'; requestId: string | null; message: string };
