import { linear } from '../../kernels/gemm.js';
import { l2Normalize } from '../../kernels/l2-normalize.js';
import { CAPSULES, locationFeatures, uploadGps } from '../../kernels/location-features.js';
import { floatsToHalves, formatShape, GeolensError, ShapeError, type Gpu, type Tensor } from '../../runtime/index.js';
import { sha256Hex } from '../../io/sha256.js';
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
        const last = l === layers.length - 1;
        // Each capsule's head adds the capsules before it in its epilogue: no add of its own.
        const next = linear(h, layers[l]!.weight, { bias: layers[l]!.bias, activation: last ? 'none' : 'relu', residual: last ? sum ?? undefined : undefined });
        h.release();
        if (last) sum?.release();
        h = next;
      }
      sum = h;
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
