// The geolens page of the peer benchmark: exposes geolens-work.ts as window.peer for page.evaluate.
import * as work from './geolens-work.js';

(window as unknown as { peer: typeof work }).peer = work;
(window as unknown as { ready: boolean }).ready = true;
