// geolens in a Web Worker: downloads, weight parsing, gallery embedding and every locate() run here, so
// the page that talks to it (demo.ts, the extension) never stalls. Speaks protocol.ts.
import { GeoLocator, openWeights, type GeoLocatorOptions, type LocateResult } from '../../src/api/index.js';
import type { FileSize, FromWorker, ToWorker, WeightSettings } from './protocol.js';

const scope = self as unknown as { postMessage(message: FromWorker): void; onmessage: ((event: MessageEvent<ToWorker>) => void) | null };
const post = (message: FromWorker) => scope.postMessage(message);

let locator: Promise<GeoLocator> | null = null;

function isFile(value: unknown): value is File {
  return typeof Blob !== 'undefined' && value instanceof Blob;
}

/** Sizes of every file before anything downloads: HEAD for URLs, the size of dropped files. */
async function fileSizes(settings: WeightSettings): Promise<FileSize[]> {
  const entries = Object.entries(settings).filter(([key, value]) => key !== 'f16' && value) as [string, string | File][];
  return Promise.all(
    entries.map(async ([key, value]): Promise<FileSize> => {
      if (isFile(value)) return { what: value.name || key, bytes: value.size };
      try {
        const response = await fetch(value, { method: 'HEAD' });
        const length = response.ok ? Number(response.headers.get('content-length')) : NaN;
        return { what: value, bytes: Number.isFinite(length) && length > 0 ? length : null };
      } catch {
        return { what: value, bytes: null };
      }
    }),
  );
}

async function options(settings: WeightSettings, stages: Record<string, number>): Promise<GeoLocatorOptions> {
  const started = performance.now();
  const weights = async (value: string | File | undefined) => (isFile(value) ? openWeights(value) : value || undefined);
  const config = isFile(settings.clipConfig) ? (JSON.parse(await settings.clipConfig.text()) as Record<string, unknown>) : settings.clipConfig || undefined;
  const opts: GeoLocatorOptions = {
    clipWeights: await weights(settings.clip),
    clipConfig: config,
    geoclipWeights: await weights(settings.geoclip),
    gallery: isFile(settings.gallery) ? URL.createObjectURL(settings.gallery) : settings.gallery || undefined,
    dtype: settings.f16 ? 'f16' : 'f32',
    onProgress: (progress) => {
      const key = progress.stage;
      stages[key] = performance.now() - started;
      post({ type: 'progress', progress });
    },
  };
  if (settings.concepts) opts.concepts = { bank: isFile(settings.concepts) ? new Uint8Array(await settings.concepts.arrayBuffer()) : settings.concepts };
  return opts;
}

async function load(settings: WeightSettings): Promise<GeoLocator> {
  const started = performance.now();
  post({ type: 'sizes', files: await fileSizes(settings) });
  const stages: Record<string, number> = {};
  const created = await GeoLocator.create(await options(settings, stages));
  post({ type: 'ready', adapter: created.gpu.adapterName, loadMs: performance.now() - started, stages, galleryFromCache: created.gallery.fromCache, concepts: created.concepts !== null });
  return created;
}

scope.onmessage = (event) => {
  const message = event.data;
  if (message.type === 'load') {
    const previous = locator;
    locator = (async () => {
      (await previous?.catch(() => null))?.release();
      return load(message.settings);
    })();
    locator.catch((error: Error) => post({ type: 'load-error', message: error.message }));
    return;
  }
  if (message.type === 'locate') {
    const { id, image, options: request = {} } = message;
    void (async () => {
      try {
        if (!locator) throw new Error('no models loaded yet');
        const ready = await locator;
        const started = performance.now();
        const [result] = (await ready.locate(image, {
          topK: request.topK ?? 5,
          explain: request.explain,
          names: true,
          mergeKm: request.mergeKm === null ? undefined : (request.mergeKm ?? 25),
          heatmap: request.heatmap === null ? undefined : (request.heatmap ?? { width: 360, height: 180 }),
        })) as [LocateResult];
        post({ type: 'result', id, result, ms: performance.now() - started });
      } catch (error) {
        post({ type: 'locate-error', id, message: (error as Error).message });
      }
    })();
  }
};
