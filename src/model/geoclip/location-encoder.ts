import { add } from '../../kernels/add.js';
import { linear } from '../../kernels/gemm.js';
import { l2Normalize } from '../../kernels/l2-normalize.js';
import { CAPSULES, locationFeatures, uploadGps } from '../../kernels/location-features.js';
import { floatsToHalves, formatShape, GeolensError, ShapeError, type Gpu, type Tensor } from '../../runtime/index.js';
import { concatBytes } from '../../io/bytes.js';
import { uploadWeight, type TensorInfo, type WeightSource } from '../../weights/index.js';

/** One capsule's MLP: RFF [2E] → hidden → hidden → hidden (ReLU each) → head [out]. */
interface Capsule {
  layers: { weight: Tensor; bias: Tensor }[];
}

export interface LocationEncoderOptions {
  /**
   * Weight storage on the GPU: f16 halves memory and bandwidth (outputs move by ~1e-4 absolute, measured
   * 8.6e-5 against PyTorch). Default f32.
   */
  dtype?: 'f32' | 'f16' | 'q8' | 'q4';
}

/** Key suffixes of one capsule in GeoCLIP's state_dict (`LocEnc{i}.` + suffix), in forward order. */
const LAYER_KEYS = ['capsule.1', 'capsule.3', 'capsule.5', 'head.0'] as const;
const ANCHOR = 'LocEnc0.capsule.0.b';

/**
 * GeoCLIP's location encoder: Equal Earth projection → random Fourier features at three scales (one WGSL
 * pass, see shaders/location-features.wgsl) → one MLP per scale → the three outputs summed.
 *
 * Widths come from the checkpoint (256 frequencies, 1024 hidden, 512 out in the released model), so a
 * narrower checkpoint of the same architecture loads too.
 */
export class LocationEncoder {
  private constructor(
    readonly gpu: Gpu,
    /** The three capsules' `b` matrices stacked: [3, E, 2]. */
    private readonly b: Tensor,
    private readonly capsules: Capsule[],
    /** sha256 (hex) of the storage dtype and every tensor name, shape and value: the weights' cache identity. */
    readonly digest: string,
  ) {}

  get encodedSize(): number {
    return this.b.shape[1]!;
  }

  get hiddenSize(): number {
    return this.capsules[0]!.layers[0]!.weight.shape[0]!;
  }

  get embeddingSize(): number {
    return this.capsules[0]!.layers[3]!.weight.shape[0]!;
  }

  /** Multiply-adds ×2 for `n` points (the MLPs; the features kernel is negligible). */
  flops(n: number): number {
    const e2 = 2 * this.encodedSize;
    const h = this.hiddenSize;
    return CAPSULES * 2 * n * (e2 * h + 2 * h * h + h * this.embeddingSize);
  }

  /**
   * Loads from a WeightSource holding GeoCLIP's location encoder, with keys `LocEnc0.capsule.0.b` …
   * `LocEnc2.head.0.bias` behind any prefix (`location_encoder.` in the Hugging Face release).
   */
  static async load(gpu: Gpu, source: WeightSource, options: LocationEncoderOptions = {}): Promise<LocationEncoder> {
    const prefix = findPrefix(source.tensors, ANCHOR, 'location encoder');
    const dtype = options.dtype ?? 'f32';
    const info = (name: string): TensorInfo => {
      const found = source.tensors.get(prefix + name);
      if (!found) throw new GeolensError(`location encoder: tensor '${prefix + name}' is missing from the checkpoint`);
      return found;
    };
    const encoded = info('LocEnc0.capsule.0.b').shape[0]!;
    const hidden = info('LocEnc0.capsule.1.weight').shape[0]!;
    const out = info('LocEnc0.head.0.weight').shape[0]!;
    const expected = (c: number): [string, number[]][] => [
      [`LocEnc${c}.capsule.0.b`, [encoded, 2]],
      [`LocEnc${c}.capsule.1.weight`, [hidden, 2 * encoded]],
      [`LocEnc${c}.capsule.1.bias`, [hidden]],
      [`LocEnc${c}.capsule.3.weight`, [hidden, hidden]],
      [`LocEnc${c}.capsule.3.bias`, [hidden]],
      [`LocEnc${c}.capsule.5.weight`, [hidden, hidden]],
      [`LocEnc${c}.capsule.5.bias`, [hidden]],
      [`LocEnc${c}.head.0.weight`, [out, hidden]],
      [`LocEnc${c}.head.0.bias`, [out]],
    ];

    // The dtype is part of the identity: f16 weights give (slightly) different embeddings.
    const hashed: Uint8Array[] = [new TextEncoder().encode(`location-encoder|${dtype}|`)];
    const read = async (name: string, shape: number[]): Promise<Float32Array> => {
      const stored = info(name).shape;
      if (stored.length !== shape.length || stored.some((d, i) => d !== shape[i])) {
        throw new ShapeError(`location encoder: tensor '${prefix + name}' has shape ${formatShape(stored)} in the checkpoint but the model expects ${formatShape(shape)}`);
      }
      const values = await source.readF32(prefix + name);
      hashed.push(new TextEncoder().encode(`${name}${formatShape(shape)}`), new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
      return values;
    };

    const stackedB = new Float32Array(CAPSULES * encoded * 2);
    const capsules: Capsule[] = [];
    const uploaded: Tensor[] = [];
    try {
      for (let c = 0; c < CAPSULES; c++) {
        const [[bName, bShape], ...layerKeys] = expected(c);
        stackedB.set(await read(bName!, bShape!), c * encoded * 2);
        const layers: Capsule['layers'] = [];
        for (let l = 0; l < LAYER_KEYS.length; l++) {
          const [weightName, weightShape] = layerKeys[2 * l]!;
          const [biasName, biasShape] = layerKeys[2 * l + 1]!;
          const values = await read(weightName, weightShape);
          // Quantized: the stored bits when the file holds this scheme, else quantized here.
          const weight = dtype === 'q8' || dtype === 'q4'
            ? await uploadWeight(gpu, source, prefix + weightName, { dtype: dtype === 'q4' && weightName.endsWith('head.0.weight') ? 'q8' : dtype, shape: weightShape })
            : upload(gpu, values, weightShape, dtype, prefix + weightName);
          uploaded.push(weight);
          const bias = gpu.upload(await read(biasName, biasShape), biasShape, 'f32', prefix + biasName);
          uploaded.push(bias);
          layers.push({ weight, bias });
        }
        capsules.push({ layers });
      }
    } catch (error) {
      for (const t of uploaded) t.release();
      throw error;
    }
    const b = gpu.upload(stackedB, [CAPSULES, encoded, 2], 'f32', 'location encoder b');
    return new LocationEncoder(gpu, b, capsules, await sha256Hex(hashed));
  }

  /** Raw encoder output (the capsules' sum, not normalized): gps [N, 2] tensor → [N, out]. */
  encode(gps: Tensor): Tensor {
    const features = locationFeatures(gps, this.b);
    let sum: Tensor | null = null;
    for (let c = 0; c < CAPSULES; c++) {
      let h = features[c]!;
      const layers = this.capsules[c]!.layers;
      for (let l = 0; l < layers.length; l++) {
        const next = linear(h, layers[l]!.weight, { bias: layers[l]!.bias, activation: l < layers.length - 1 ? 'relu' : 'none' });
        h.release();
        h = next;
      }
      if (sum) {
        const total: Tensor = add(sum, h);
        sum.release();
        h.release();
        sum = total;
      } else {
        sum = h;
      }
    }
    return sum!;
  }

  /** L2-normalized embeddings for host GPS [N, 2] (lat, lon degrees), validated first: → [N, out]. */
  embed(gps: Float32Array): Tensor {
    const input = uploadGps(this.gpu, gps);
    const raw = this.encode(input);
    input.release();
    const normalized = l2Normalize(raw);
    raw.release();
    return normalized;
  }

  release(): void {
    this.b.release();
    for (const capsule of this.capsules) for (const layer of capsule.layers) {
      layer.weight.release();
      layer.bias.release();
    }
  }
}

function upload(gpu: Gpu, values: Float32Array, shape: number[], dtype: 'f32' | 'f16', label: string): Tensor {
  return dtype === 'f32' ? gpu.upload(values, shape, 'f32', label) : gpu.upload(floatsToHalves(values), shape, 'f16', label);
}

/**
 * The prefix in front of `anchor` in this checkpoint ('' for the plain state_dict, 'location_encoder.' in
 * the Hugging Face release). Throws listing a few stored names when nothing ends with it.
 */
export function findPrefix(tensors: ReadonlyMap<string, unknown>, anchor: string, what: string): string {
  const candidates = [...tensors.keys()].filter((key) => key === anchor || key.endsWith(`.${anchor}`));
  if (candidates.length === 0) {
    const shown = [...tensors.keys()].slice(0, 5).map((k) => `'${k}'`).join(', ');
    throw new GeolensError(`${what}: no tensor named '${anchor}' (with any prefix) in the checkpoint; it holds ${tensors.size} tensors, e.g. ${shown}`);
  }
  candidates.sort((a, b) => a.length - b.length);
  return candidates[0]!.slice(0, candidates[0]!.length - anchor.length);
}

/**
 * sha256 as hex over the concatenation of `parts`: WebCrypto where present (Node 20+, secure browser
 * contexts), else a plain-TS digest (pages served over http have no crypto.subtle).
 */
export async function sha256Hex(parts: readonly Uint8Array[]): Promise<string> {
  const joined = concatBytes(parts);
  const subtle = globalThis.crypto?.subtle;
  const digest = subtle ? new Uint8Array(await subtle.digest('SHA-256', joined as Uint8Array<ArrayBuffer>)) : sha256(joined);
  return [...digest].map((byte) => byte.toString(16).padStart(2, '0')).join('');
}

const K256 = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01,
  0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
  0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
  0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08,
  0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** FIPS 180-4 SHA-256 of a byte array. */
export function sha256(message: Uint8Array): Uint8Array {
  const padded = new Uint8Array(Math.ceil((message.byteLength + 9) / 64) * 64);
  padded.set(message);
  padded[message.byteLength] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.byteLength - 8, Math.floor(message.byteLength / 0x20000000));
  view.setUint32(padded.byteLength - 4, (message.byteLength * 8) >>> 0);
  const h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  const w = new Uint32Array(64);
  const rotr = (x: number, n: number) => (x >>> n) | (x << (32 - n));
  for (let block = 0; block < padded.byteLength; block += 64) {
    for (let t = 0; t < 16; t++) w[t] = view.getUint32(block + 4 * t);
    for (let t = 16; t < 64; t++) {
      const s0 = rotr(w[t - 15]!, 7) ^ rotr(w[t - 15]!, 18) ^ (w[t - 15]! >>> 3);
      const s1 = rotr(w[t - 2]!, 17) ^ rotr(w[t - 2]!, 19) ^ (w[t - 2]! >>> 10);
      w[t] = w[t - 16]! + s0 + w[t - 7]! + s1;
    }
    let [a, b, c, d, e, f, g, hh] = h as unknown as number[];
    for (let t = 0; t < 64; t++) {
      const t1 = (hh! + (rotr(e!, 6) ^ rotr(e!, 11) ^ rotr(e!, 25)) + ((e! & f!) ^ (~e! & g!)) + K256[t]! + w[t]!) >>> 0;
      const t2 = ((rotr(a!, 2) ^ rotr(a!, 13) ^ rotr(a!, 22)) + ((a! & b!) ^ (a! & c!) ^ (b! & c!))) >>> 0;
      hh = g;
      g = f;
      f = e;
      e = (d! + t1) >>> 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) >>> 0;
    }
    h[0] += a!;
    h[1] += b!;
    h[2] += c!;
    h[3] += d!;
    h[4] += e!;
    h[5] += f!;
    h[6] += g!;
    h[7] += hh!;
  }
  const out = new Uint8Array(32);
  const outView = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) outView.setUint32(4 * i, h[i]!);
  return out;
}
