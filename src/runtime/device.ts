import { DEVICE_LOST_HINT, DeviceError, NoAdapterError } from './errors.js';
import { Gpu, type GpuFeatures } from './gpu.js';

export interface DeviceOptions {
  powerPreference?: GPUPowerPreference;
  /** Skip hardware adapters and use the SwiftShader software device (Node only). */
  forceSoftware?: boolean;
  /** Leave out optional features even when present, e.g. to test the fallbacks. */
  disableFeatures?: (keyof GpuFeatures)[];
  /** Print which adapter was chosen (Node prints to stderr by default). */
  log?: (message: string) => void;
}

/** Where Debian's chromium package puts SwiftShader's Vulkan ICD; other distros follow. */
export const SWIFTSHADER_ICD_PATHS = [
  '/usr/lib/chromium/vk_swiftshader_icd.json',
  '/usr/lib64/chromium/vk_swiftshader_icd.json',
  '/usr/lib/chromium-browser/vk_swiftshader_icd.json',
  '/opt/google/chrome/vk_swiftshader_icd.json',
];

const NODE_FIX =
  'No WebGPU adapter found. geolens needs a GPU driver with Vulkan, or the SwiftShader software device: ' +
  'on Debian/Ubuntu run `apt-get install -y chromium libvulkan1` (or set VK_ICD_FILENAMES to a vk_swiftshader_icd.json).';
const BROWSER_FIX =
  'This browser has no WebGPU adapter. Use a browser with WebGPU enabled (Chrome/Edge 113+, or Chromium with --enable-unsafe-webgpu).';

let shared: Promise<Gpu> | null = null;
let sharedGpu: Gpu | null = null;
/** Why each lost device was lost (devices made by createDevice register here). */
const lostDevices = new WeakMap<GPUDevice, string>();

/**
 * The process-wide Gpu, created on first use. In browsers it comes from navigator.gpu; in Node from the
 * `webgpu` package (Dawn), falling back to SwiftShader when no hardware adapter exists. A lost device
 * (driver reset, GPU process crash, destroy()) is dropped: the next call creates a new one.
 */
export function getDevice(options: DeviceOptions = {}): Promise<Gpu> {
  if (sharedGpu && isDeviceLost(sharedGpu)) {
    shared = null;
    sharedGpu = null;
  }
  if (!shared) {
    const pending = createDevice(options);
    shared = pending;
    pending.then(
      (gpu) => {
        if (shared !== pending) return;
        sharedGpu = gpu;
        void gpu.device.lost.then(() => {
          if (shared === pending) {
            shared = null;
            sharedGpu = null;
          }
        });
      },
      () => {
        if (shared === pending) shared = null;
      },
    );
  }
  return shared;
}

/** Whether the Gpu's device has been lost; its reason, or null while it is alive. */
export function deviceLostReason(gpu: Gpu): string | null {
  return lostDevices.get(gpu.device) ?? null;
}

export function isDeviceLost(gpu: Gpu): boolean {
  return lostDevices.has(gpu.device);
}

/** The error for work asked of a Gpu whose device is gone: what happened and how to carry on. */
export function deviceLostError(gpu: Gpu, what = 'this GPU work'): DeviceError {
  return new DeviceError(`${what} cannot run: the GPU device was lost (${deviceLostReason(gpu) ?? 'unknown reason'}); ${DEVICE_LOST_HINT}`);
}

/** A new, unshared Gpu (tests that lose or destroy their device use this). */
export async function createDevice(options: DeviceOptions = {}): Promise<Gpu> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  let root: GPU;
  let adapter: GPUAdapter | null;
  let isSoftware = false;
  if (nav?.gpu && !isNode) {
    root = nav.gpu;
    adapter = await root.requestAdapter({ powerPreference: options.powerPreference });
    if (!adapter) throw new NoAdapterError(BROWSER_FIX);
    isSoftware = adapter.info?.isFallbackAdapter ?? false;
  } else if (isNode) {
    ({ root, adapter, isSoftware } = await nodeAdapter(options));
  } else {
    throw new NoAdapterError(BROWSER_FIX);
  }

  const wanted: [keyof GpuFeatures, GPUFeatureName][] = [
    ['timestamps', 'timestamp-query'],
    ['subgroups', 'subgroups'],
    ['f16', 'shader-f16'],
  ];
  const disabled = new Set(options.disableFeatures ?? []);
  const features: GpuFeatures = { timestamps: false, subgroups: false, f16: false };
  const requiredFeatures: GPUFeatureName[] = [];
  for (const [key, name] of wanted) {
    if (adapter.features.has(name) && !disabled.has(key)) {
      features[key] = true;
      requiredFeatures.push(name);
    }
  }
  const limits = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures,
    // Ask for everything the adapter offers: galleries and ViT-L weights want the big bindings.
    requiredLimits: {
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
      maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupSizeY: limits.maxComputeWorkgroupSizeY,
      maxStorageBuffersPerShaderStage: limits.maxStorageBuffersPerShaderStage,
    },
  });
  const info = adapter.info;
  const name = describeAdapter(info);
  const log = options.log ?? (isNode ? (m: string) => process.stderr.write(m + '\n') : () => {});
  if (!isNode || process.env.GEOLENS_QUIET !== '1') log(`geolens: using ${name}${isSoftware ? ' (software)' : ''}`);
  void device.lost.then((info) => lostDevices.set(device, `${info.reason}${info.message ? `: ${info.message}` : ''}`));
  return new Gpu(device, adapter, name, features, isSoftware, root);
}

export function describeAdapter(info: GPUAdapterInfo | undefined): string {
  if (!info) return 'unknown adapter';
  const device = (info.device || '').replace(/-$/, '');
  if (/swiftshader/i.test(info.vendor + info.architecture + device)) {
    if (/subzero/i.test(device)) return 'SwiftShader Device (Subzero)';
    return /llvm/i.test(device) ? 'SwiftShader Device (LLVM)' : 'SwiftShader Device';
  }
  return [info.vendor, info.architecture, info.description || device].filter(Boolean).join(' ') || 'unknown adapter';
}

async function nodeAdapter(options: DeviceOptions): Promise<{ root: GPU; adapter: GPUAdapter; isSoftware: boolean }> {
  const env = process.env;
  env.XDG_RUNTIME_DIR ??= (await import('node:os')).tmpdir();
  let webgpu: { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
  try {
    webgpu = (await import('webgpu')) as unknown as typeof webgpu;
  } catch (error) {
    throw new NoAdapterError(`The 'webgpu' npm package could not be loaded (${(error as Error).message}). Run \`npm install webgpu\`.`);
  }
  // Dawn's GPUBufferUsage & co. are needed as globals by code written for browsers.
  for (const [key, value] of Object.entries(webgpu.globals)) {
    if (!(key in globalThis)) (globalThis as Record<string, unknown>)[key] = value;
  }

  const icdGiven = !!env.VK_ICD_FILENAMES;
  if (!options.forceSoftware) {
    const root = webgpu.create([]);
    const adapter = await root.requestAdapter({ powerPreference: options.powerPreference });
    if (adapter) return { root, adapter, isSoftware: isSwiftShader(adapter) };
  }
  if (!icdGiven || options.forceSoftware) {
    const { existsSync } = await import('node:fs');
    const icd = SWIFTSHADER_ICD_PATHS.find((path) => existsSync(path));
    if (icd) {
      // The Vulkan loader reads this each time Dawn creates an instance, so a second create() sees it.
      env.VK_ICD_FILENAMES = icd;
      const root = webgpu.create([]);
      const adapter = await root.requestAdapter();
      if (adapter) return { root, adapter, isSoftware: true };
    }
  }
  throw new NoAdapterError(NODE_FIX);
}

function isSwiftShader(adapter: GPUAdapter): boolean {
  const info = adapter.info;
  return /swiftshader/i.test(`${info?.vendor} ${info?.architecture} ${info?.device}`) || !!info?.isFallbackAdapter;
}
