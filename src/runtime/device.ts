import { DEVICE_LOST_HINT, DeviceError, NoAdapterError } from './errors.js';
import { Gpu, type GpuFeatures } from './gpu.js';
import { isNode } from './env.js';
import { installHostWait } from './host-wait.js';

export interface DeviceOptions {
  powerPreference?: GPUPowerPreference;
  /**
   * Which adapter to use (Node only): 'hardware', 'lavapipe', 'swiftshader', or part of an adapter's name
   * as `geolens info` lists it. Default $GEOLENS_ADAPTER, else the first of: a hardware adapter, lavapipe,
   * SwiftShader.
   */
  adapter?: string;
  /** Skip hardware adapters and use the best software device (Node only). */
  forceSoftware?: boolean;
  /** Leave out optional features even when present, e.g. to test the fallbacks. */
  disableFeatures?: (keyof GpuFeatures)[];
  /** Print which adapter was chosen (Node prints to stderr by default). */
  log?: (message: string) => void;
}

/** Where Mesa installs lavapipe's Vulkan ICD (Debian/Ubuntu first; others name it by architecture). */
export const LAVAPIPE_ICD_PATHS = [
  '/usr/share/vulkan/icd.d/lvp_icd.json',
  '/usr/share/vulkan/icd.d/lvp_icd.x86_64.json',
  '/usr/share/vulkan/icd.d/lvp_icd.aarch64.json',
  '/usr/local/share/vulkan/icd.d/lvp_icd.json',
  '/etc/vulkan/icd.d/lvp_icd.json',
];

/** Where Debian's chromium package puts SwiftShader's Vulkan ICD; other distros follow. */
export const SWIFTSHADER_ICD_PATHS = [
  '/usr/lib/chromium/vk_swiftshader_icd.json',
  '/usr/lib64/chromium/vk_swiftshader_icd.json',
  '/usr/lib/chromium-browser/vk_swiftshader_icd.json',
  '/opt/google/chrome/vk_swiftshader_icd.json',
];

const NODE_FIX =
  'No WebGPU adapter found. geolens needs a GPU driver with Vulkan, or a software device (lavapipe from Mesa ≥ 24, or SwiftShader): ' +
  'on Debian/Ubuntu run `apt-get install -y chromium libvulkan1` or scripts/install.sh (or set VK_ICD_FILENAMES to a vk_swiftshader_icd.json).';
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
  if (sharedGpu && options.adapter && isNode() && !pickAdapter([{ kind: adapterKind(sharedGpu.adapter.info), name: sharedGpu.adapterName }], options.adapter)) {
    return Promise.reject(new NoAdapterError(
      `the process-wide device is already ${sharedGpu.adapterName}, not '${options.adapter}': name the adapter before the first getDevice() (or set GEOLENS_ADAPTER), or use createDevice()`,
    ));
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
  const inNode = isNode();
  let root: GPU;
  let adapter: GPUAdapter | null;
  let isSoftware = false;
  if (nav?.gpu && !inNode) {
    root = nav.gpu;
    adapter = await root.requestAdapter({ powerPreference: options.powerPreference });
    if (!adapter) throw new NoAdapterError(BROWSER_FIX);
    isSoftware = adapter.info?.isFallbackAdapter ?? false;
  } else if (inNode) {
    const chosen = await nodeAdapter(options);
    ({ root, adapter } = chosen);
    isSoftware = chosen.kind !== 'hardware';
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
  const log = options.log ?? (inNode ? (m: string) => process.stderr.write(m + '\n') : () => {});
  if (!inNode || process.env.GEOLENS_QUIET !== '1') log(`geolens: using ${name}${isSoftware ? ' (software)' : ''}`);
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
  if (/llvmpipe|lavapipe/i.test(`${info.description} ${device}`)) {
    // "llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1" → "lavapipe (Mesa 25.0.7, LLVM 15.0.6)"
    const mesa = /Mesa (\d+(?:\.\d+)*)/.exec(info.description ?? '')?.[1];
    const llvm = /LLVM (\d+(?:\.\d+)*)/.exec(`${info.description} ${device.replace(/-/g, '.')}`)?.[1];
    const versions = [mesa && `Mesa ${mesa}`, llvm && `LLVM ${llvm}`].filter(Boolean).join(', ');
    return versions ? `lavapipe (${versions})` : 'lavapipe';
  }
  return [info.vendor, info.architecture, info.description || device].filter(Boolean).join(' ') || 'unknown adapter';
}


/** What kind of device an adapter is: the order geolens prefers them in. */
export type AdapterKind = 'hardware' | 'lavapipe' | 'swiftshader' | 'software';
const KIND_ORDER: AdapterKind[] = ['hardware', 'lavapipe', 'swiftshader', 'software'];

export function adapterKind(info: GPUAdapterInfo | undefined): AdapterKind {
  const text = `${info?.vendor} ${info?.architecture} ${info?.device} ${info?.description}`;
  if (/swiftshader/i.test(text)) return 'swiftshader';
  if (/llvmpipe|lavapipe/i.test(text)) return 'lavapipe';
  return info?.isFallbackAdapter ? 'software' : 'hardware';
}

/** One adapter Node can open, and where it came from. */
export interface AdapterCandidate {
  kind: AdapterKind;
  /** describeAdapter's name, what the log line and `geolens info` print. */
  name: string;
  adapter: GPUAdapter;
  /** The `GPU` object it came from (kept alive with the adapter). */
  root: GPU;
  /** 'system' (the Vulkan loader's own search, or the user's VK_ICD_FILENAMES), else the ICD file opened. */
  source: string;
}

export interface AdapterList {
  /** Best first: hardware, lavapipe, SwiftShader, other software. */
  adapters: AdapterCandidate[];
  /** ICD files that exist but gave Dawn no adapter, with why that usually is. */
  refused: string[];
}

type WebGpuModule = { create: (flags: string[]) => GPU; globals: Record<string, unknown> };

async function loadWebGpu(): Promise<WebGpuModule> {
  const env = process.env;
  env.XDG_RUNTIME_DIR ??= (await import('node:os')).tmpdir();
  let webgpu: WebGpuModule;
  try {
    webgpu = (await import('webgpu')) as unknown as WebGpuModule;
  } catch (error) {
    throw new NoAdapterError(`The 'webgpu' npm package could not be loaded (${(error as Error).message}). Run \`npm install webgpu\`.`);
  }
  // Before any device exists: Dawn would otherwise spin a core for every wait (host-wait.ts).
  installHostWait();
  // Dawn's GPUBufferUsage & co. are needed as globals by code written for browsers.
  for (const [key, value] of Object.entries(webgpu.globals)) {
    if (!(key in globalThis)) (globalThis as Record<string, unknown>)[key] = value;
  }
  return webgpu;
}

/**
 * Every adapter Node can reach, best first: the Vulkan loader's own (a hardware GPU, or whatever
 * VK_ICD_FILENAMES names), then lavapipe and SwiftShader from their ICD files. The loader reads
 * VK_ICD_FILENAMES each time Dawn creates an instance, so each ICD gets an instance of its own; the
 * variable is restored afterwards, and child processes see what this one was started with.
 */
export async function listAdapters(options: {
  powerPreference?: GPUPowerPreference;
  system?: boolean;
  icds?: boolean;
  /** Stop once nothing still to open could rank higher (a hardware adapter or lavapipe is found). */
  bestOnly?: boolean;
  /** Open only this software device's ICD (no system instance, no other ICD). */
  only?: 'lavapipe' | 'swiftshader';
} = {}): Promise<AdapterList> {
  const webgpu = await loadWebGpu();
  const env = process.env;
  const { existsSync } = await import('node:fs');
  const adapters: AdapterCandidate[] = [];
  const refused: string[] = [];
  const open = async (source: string): Promise<void> => {
    const given = { icd: env.VK_ICD_FILENAMES, driver: env.VK_DRIVER_FILES };
    if (source !== 'system') {
      env.VK_ICD_FILENAMES = source;
      delete env.VK_DRIVER_FILES; // the loader prefers it over VK_ICD_FILENAMES
    }
    try {
      const root = webgpu.create([]);
      const adapter = await root.requestAdapter({ powerPreference: options.powerPreference });
      if (!adapter) {
        if (source !== 'system') refused.push(`${source}: Dawn found no usable adapter in it${/lvp/.test(source) ? ' (lavapipe before Mesa 24 lacks features Dawn requires; scripts/install.sh brings a newer one)' : ''}`);
        return;
      }
      const name = describeAdapter(adapter.info);
      if (adapters.some((a) => a.name === name)) return;
      adapters.push({ kind: adapterKind(adapter.info), name, adapter, root, source });
    } finally {
      restore('VK_ICD_FILENAMES', given.icd);
      restore('VK_DRIVER_FILES', given.driver);
    }
  };
  const done = () => !!options.bestOnly && adapters.some((a) => a.kind === 'hardware' || a.kind === 'lavapipe');
  if (!options.only && (options.system ?? true)) await open('system');
  if (options.icds ?? true) {
    const icds = options.only === 'lavapipe' ? LAVAPIPE_ICD_PATHS : options.only === 'swiftshader' ? SWIFTSHADER_ICD_PATHS : [...LAVAPIPE_ICD_PATHS, ...SWIFTSHADER_ICD_PATHS];
    for (const icd of icds) {
      if (done()) break;
      // One adapter per kind: opening lavapipe again (the loader's own search often finds it) would only
      // repeat Dawn's start-up warnings.
      const kind: AdapterKind = LAVAPIPE_ICD_PATHS.includes(icd) ? 'lavapipe' : 'swiftshader';
      if (adapters.some((a) => a.kind === kind)) continue;
      if (existsSync(icd)) await open(icd);
    }
  }
  adapters.sort((a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind));
  return { adapters, refused };
}

function restore(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

/**
 * The adapter a request names: a kind ('hardware', 'lavapipe', 'swiftshader', 'software') or part of a
 * name, case-insensitive; null when none matches.
 */
export function pickAdapter<T extends { kind: AdapterKind; name: string }>(adapters: readonly T[], wanted: string): T | null {
  const key = wanted.trim().toLowerCase();
  if ((KIND_ORDER as string[]).includes(key)) return adapters.find((a) => a.kind === key) ?? null;
  return adapters.find((a) => a.name.toLowerCase().includes(key)) ?? null;
}

async function nodeAdapter(options: DeviceOptions): Promise<AdapterCandidate> {
  const wanted = options.adapter ?? (process.env.GEOLENS_ADAPTER || undefined);
  // A VK_ICD_FILENAMES of the user's own is their choice: no fallback past it, unless an adapter is named.
  const icdGiven = !!process.env.VK_ICD_FILENAMES;
  // A software device asked for by kind opens its own ICD alone: no other instance, none of its start-up noise.
  const kind = wanted?.trim().toLowerCase();
  if (kind === 'lavapipe' || kind === 'swiftshader') {
    const alone = await listAdapters({ powerPreference: options.powerPreference, only: kind });
    const chosen = pickAdapter(alone.adapters, kind);
    if (chosen) return chosen;
  }
  const { adapters, refused } = await listAdapters({
    powerPreference: options.powerPreference,
    icds: !icdGiven || !!wanted || !!options.forceSoftware,
    bestOnly: !wanted && !options.forceSoftware,
  });
  const usable = options.forceSoftware ? adapters.filter((a) => a.kind !== 'hardware') : adapters;
  if (wanted) {
    const chosen = pickAdapter(usable, wanted);
    if (chosen) return chosen;
    const seen = adapters.map((a) => `${a.name} [${a.kind}]`).join(', ') || 'none';
    const hint = /lavapipe/i.test(wanted) ? '; lavapipe needs Mesa ≥ 24 (scripts/install.sh installs it)' : '';
    throw new NoAdapterError(`No WebGPU adapter matches '${wanted}' (${options.adapter ? 'the adapter option' : 'GEOLENS_ADAPTER'}); adapters found: ${seen}${refused.length ? `; ${refused.join('; ')}` : ''}${hint}. Use hardware, lavapipe, swiftshader or part of a name.`);
  }
  if (usable.length === 0) throw new NoAdapterError(NODE_FIX);
  return usable[0]!;
}
