// Place names in the browser: cities.pbf fetched from beside this bundle (the default), borders bundled.
import { loadPlaceNamer } from '../../src/geo/names.js';
import { NAMED_POINTS } from './named-points.js';

const target = window as unknown as Record<string, unknown>;
loadPlaceNamer()
  .then((namer) => (target.geolensResult = NAMED_POINTS.map((p) => namer.name(p.lat, p.lon))))
  .catch((error: Error) => (target.geolensResult = { error: `${error.name}: ${error.message}` }));
