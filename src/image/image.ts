/**
 * CLIP image preprocessing, exactly as transformers' CLIPImageProcessor does it, in plain TS so Node and
 * browsers share it after their own decoding (decode-node.ts, decode-browser.ts):
 *
 *   convert to RGB (alpha dropped, grey replicated) → resize the shortest edge to `size` with PIL's BICUBIC
 *   → center crop `cropSize` → × 1/255 → (x − mean) / std → Float32Array [3, cropSize, cropSize]
 *
 * The resize reproduces Pillow's 8-bit resampler bit for bit (Resample.c): separable passes, horizontal
 * first, filter support widened by the scale when downsampling (that is PIL's antialiasing), coefficients
 * in 22-bit fixed point, and the intermediate image rounded and clipped to uint8 between the passes. Only
 * the pixels that survive the crop are computed; each one gets the value the full resize would give it.
 */
import { GeolensError } from '../runtime/index.js';

/**
 * Decoded pixels, row-major, `channels` values per pixel: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA. `data` is
 * 8-bit (Uint8Array / Uint8ClampedArray), or a Float32Array together with `range`, the value that means
 * full intensity (1 for [0, 1] data, 255 for [0, 255]): floats are checked (no NaN, none outside
 * [0, range]) and rounded to 8 bits as an 8-bit decoder would have stored them. Any other array is refused,
 * since reading it as bytes would give a confident answer about the wrong picture.
 */
export interface RawImage {
  data: Uint8Array | Uint8ClampedArray | Float32Array;
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
  /** Full intensity of Float32Array data; required for floats, ignored for bytes. */
  range?: 1 | 255;
}

/**
 * The pixel cap: images with more pixels are refused (decoders check it from the header, before decoding).
 * 100 M pixels (a 10000 × 10000 photo; 400 MB of RGBA) by default; set `imageLimits.maxPixels` to change it
 * for the process, or pass `maxPixels` to decodeImage.
 */
export const imageLimits = { maxPixels: 100_000_000 };

/** Throws when width × height is over the cap; `where` says which step found it. */
export function checkPixelCap(width: number, height: number, maxPixels = imageLimits.maxPixels, where = 'image'): void {
  if (width * height > maxPixels) {
    throw new ImageError(`${where}: ${width}×${height} is ${width * height} pixels, more than the cap of ${maxPixels} (imageLimits.maxPixels / maxPixels)`);
  }
}

export interface PreprocessOptions {
  /** Target of the shortest edge (CLIPImageProcessor `size.shortest_edge`), default 224. */
  size?: number;
  /** Side of the square center crop (`crop_size`), default `size`. */
  cropSize?: number;
  mean?: readonly [number, number, number];
  std?: readonly [number, number, number];
}

export const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073] as const;
export const CLIP_STD = [0.26862954, 0.26130258, 0.27577711] as const;

/** The image does not fit preprocessing (bad dimensions, short data, unknown channel count). */
export class ImageError extends GeolensError {
  override name = 'ImageError';
}

/** CLIPImageProcessor end to end: pixels ready for ClipVisionModel, [3, cropSize, cropSize] channels first. */
export function preprocessImage(image: RawImage, options: PreprocessOptions = {}): Float32Array {
  const size = options.size ?? 224;
  const cropSize = options.cropSize ?? size;
  return normalizeImage(resizeAndCrop(image, size, cropSize), cropSize, options.mean ?? CLIP_MEAN, options.std ?? CLIP_STD);
}

/**
 * transformers' get_resize_output_image_size(default_to_square=False): the shortest edge becomes
 * `shortestEdge`, the other keeps the aspect ratio, truncated. Returns [width, height].
 */
export function resizeOutputSize(width: number, height: number, shortestEdge: number): [number, number] {
  const portrait = width <= height;
  const short = portrait ? width : height;
  const long = portrait ? height : width;
  const newLong = Math.trunc((shortestEdge * long) / short);
  return portrait ? [shortestEdge, newLong] : [newLong, shortestEdge];
}

/**
 * Resize the shortest edge to `size` (PIL BICUBIC) and center crop `cropSize`: RGB bytes [cropSize, cropSize, 3].
 * The crop offsets are transformers' center_crop: floor((resized − crop) / 2).
 */
export function resizeAndCrop(image: RawImage, size: number, cropSize = size): Uint8Array {
  checkImage(image);
  for (const [name, value] of [['size', size], ['cropSize', cropSize]] as const) {
    if (!Number.isInteger(value) || value < 1) throw new ImageError(`preprocess: ${name} must be a positive integer, got ${value}`);
  }
  const [outWidth, outHeight] = resizeOutputSize(image.width, image.height, size);
  if (cropSize > outWidth || cropSize > outHeight) {
    throw new ImageError(`preprocess: crop ${cropSize}×${cropSize} does not fit the resized ${outWidth}×${outHeight} image`);
  }
  const top = Math.floor((outHeight - cropSize) / 2);
  const left = Math.floor((outWidth - cropSize) / 2);
  return resizeRegion(asBytes(image), outWidth, outHeight, left, top, cropSize, cropSize);
}

/** rescale (×1/255 in double, stored f32) then (x − mean) / std in f32, as numpy does it: bit-exact with HF. */
export function normalizeImage(
  rgb: Uint8Array,
  side: number,
  mean: readonly number[] = CLIP_MEAN,
  std: readonly number[] = CLIP_STD,
): Float32Array {
  const plane = side * side;
  if (rgb.length !== plane * 3) throw new ImageError(`normalizeImage: ${rgb.length} bytes for a ${side}×${side} RGB image (${plane * 3})`);
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const m = Math.fround(mean[c]!);
    const s = Math.fround(std[c]!);
    // Every uint8 value maps to one float: a 256-entry table per channel.
    const table = new Float32Array(256);
    for (let v = 0; v < 256; v++) table[v] = Math.fround(Math.fround(v * (1 / 255)) - m) / s;
    const base = c * plane;
    for (let i = 0; i < plane; i++) out[base + i] = table[rgb[i * 3 + c]!]!;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Pillow's resampler (libImaging/Resample.c), 8 bits per channel

/** Pillow keeps 8 bits for the value and 2 for overshoot: coefficients carry 32 − 8 − 2 = 22 fractional bits. */
const PRECISION_BITS = 22;
const ONE = 1 << PRECISION_BITS;
const BICUBIC_SUPPORT = 2;

/** Keys' cubic with a = −0.5, as Pillow's bicubic_filter. */
function bicubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

interface Coefficients {
  /** Per output index: first input index and tap count. */
  first: Int32Array;
  count: Int32Array;
  /** Fixed-point weights, `taps` per output index. */
  weights: Int32Array;
  taps: number;
}

/**
 * Pillow's precompute_coeffs + normalize_coeffs_8bpc for output indices [start, start + n) of a resize from
 * inSize to outSize: double-precision weights normalized to sum 1, then rounded half away from zero to
 * 22-bit fixed point.
 */
function coefficients(inSize: number, outSize: number, start: number, n: number): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = BICUBIC_SUPPORT * filterScale;
  const taps = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(n);
  const count = new Int32Array(n);
  const weights = new Int32Array(n * taps);
  const raw = new Float64Array(taps);
  const inverse = 1 / filterScale;
  for (let j = 0; j < n; j++) {
    const center = (start + j + 0.5) * scale;
    // C's (int) cast truncates toward zero; the clamp makes that equal to floor here.
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let sum = 0;
    for (let x = 0; x < xmax; x++) {
      const w = bicubic((x + xmin - center + 0.5) * inverse);
      raw[x] = w;
      sum += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = sum !== 0 ? raw[x]! / sum : raw[x]!;
      weights[j * taps + x] = Math.trunc(w < 0 ? -0.5 + w * ONE : 0.5 + w * ONE);
    }
    first[j] = xmin;
    count[j] = xmax;
  }
  return { first, count, weights, taps };
}

/** Pillow's clip8: round (the accumulator starts at one half) and saturate to 0..255. */
function clip8(accumulator: number): number {
  if (accumulator >= ONE * 256) return 255;
  if (accumulator <= 0) return 0;
  return Math.floor(accumulator / ONE);
}

/**
 * The [left, left + width) × [top, top + height) window of the image resized to outWidth × outHeight, as
 * RGB bytes. A pass whose size does not change is skipped, as Pillow skips it.
 */
function resizeRegion(image: RawImage & { data: Uint8Array | Uint8ClampedArray }, outWidth: number, outHeight: number, left: number, top: number, width: number, height: number): Uint8Array {
  const { data, channels } = image;
  const inWidth = image.width;
  const inHeight = image.height;
  // Which source channel feeds R, G, B: grey images replicate their one value.
  const source = channels >= 3 ? [0, 1, 2] : [0, 0, 0];
  const [red, green, blue] = source as [number, number, number];

  const needHorizontal = outWidth !== inWidth;
  const needVertical = outHeight !== inHeight;
  const vertical = needVertical ? coefficients(inHeight, outHeight, top, height) : null;
  // Source rows the vertical pass reads (or the cropped rows themselves when there is no vertical pass).
  const rowStart = vertical ? vertical.first[0]! : top;
  const rowEnd = vertical ? vertical.first[height - 1]! + vertical.count[height - 1]! : top + height;
  const rows = rowEnd - rowStart;

  // Horizontal pass (or a plain column crop + RGB conversion): rows × width RGB bytes.
  const middle = new Uint8Array(rows * width * 3);
  if (needHorizontal) {
    const { first, count, weights, taps } = coefficients(inWidth, outWidth, left, width);
    for (let y = 0; y < rows; y++) {
      const rowBase = (rowStart + y) * inWidth;
      for (let x = 0; x < width; x++) {
        const xmin = first[x]!;
        const n = count[x]!;
        const k = x * taps;
        let r = ONE / 2;
        let g = ONE / 2;
        let b = ONE / 2;
        let p = (rowBase + xmin) * channels;
        for (let i = 0; i < n; i++, p += channels) {
          const w = weights[k + i]!;
          r += data[p + red]! * w;
          g += data[p + green]! * w;
          b += data[p + blue]! * w;
        }
        const o = (y * width + x) * 3;
        middle[o] = clip8(r);
        middle[o + 1] = clip8(g);
        middle[o + 2] = clip8(b);
      }
    }
  } else {
    for (let y = 0; y < rows; y++) {
      for (let x = 0; x < width; x++) {
        const p = ((rowStart + y) * inWidth + left + x) * channels;
        for (let c = 0; c < 3; c++) middle[(y * width + x) * 3 + c] = data[p + source[c]!]!;
      }
    }
  }
  if (!vertical) return middle;

  const out = new Uint8Array(width * height * 3);
  const { first, count, weights, taps } = vertical;
  const stride = width * 3;
  for (let y = 0; y < height; y++) {
    const ymin = first[y]! - rowStart;
    const n = count[y]!;
    const k = y * taps;
    for (let i = 0; i < stride; i++) {
      let acc = ONE / 2;
      let p = ymin * stride + i;
      for (let t = 0; t < n; t++, p += stride) acc += middle[p]! * weights[k + t]!;
      out[y * stride + i] = clip8(acc);
    }
  }
  return out;
}

function checkImage(image: RawImage): void {
  const { width, height, channels, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new ImageError(`image: invalid size ${width}×${height}`);
  }
  if (![1, 2, 3, 4].includes(channels)) throw new ImageError(`image: ${channels} channels; expected 1, 2, 3 or 4`);
  checkPixelCap(width, height);
  const isBytes = data instanceof Uint8Array || data instanceof Uint8ClampedArray;
  if (!isBytes && !(data instanceof Float32Array)) {
    const kind = (data as object | null)?.constructor?.name ?? typeof data;
    throw new ImageError(`image: data is a ${kind}; RawImage data must be a Uint8Array / Uint8ClampedArray, or a Float32Array with range 1 or 255`);
  }
  if (data.length !== width * height * channels) {
    throw new ImageError(`image: ${data.length} ${isBytes ? 'bytes' : 'values'} for ${width}×${height}×${channels} (${width * height * channels} expected)`);
  }
  if (data instanceof Float32Array) {
    const range = image.range;
    if (range !== 1 && range !== 255) throw new ImageError(`image: Float32Array data needs range 1 (values in [0, 1]) or 255 (values in [0, 255]), got ${String(range)}`);
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      // Written so NaN fails too.
      if (!(v >= 0 && v <= range)) throw new ImageError(`image: value ${v} at index ${i} is ${Number.isNaN(v) ? 'NaN' : `outside [0, ${range}]`}`);
    }
  }
}

/** 8-bit pixels of a checked image: float data rounded half up from [0, range] to 0..255. */
function asBytes(image: RawImage): RawImage & { data: Uint8Array | Uint8ClampedArray } {
  const { data } = image;
  if (!(data instanceof Float32Array)) return image as RawImage & { data: Uint8Array };
  const scale = 255 / image.range!;
  const bytes = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) bytes[i] = Math.min(255, Math.floor(data[i]! * scale + 0.5));
  return { ...image, data: bytes };
}
