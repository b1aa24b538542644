/** The folder geolens caches into in Node (downloads, gallery embeddings, tuning tables): $GEOLENS_CACHE or ~/.cache/geolens. */
export async function defaultCacheDir(): Promise<string> {
  if (process.env.GEOLENS_CACHE) return process.env.GEOLENS_CACHE;
  const [{ homedir }, { join }] = await Promise.all([import('node:os'), import('node:path')]);
  return join(homedir(), '.cache', 'geolens');
}
