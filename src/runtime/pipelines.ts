/**
 * One compiled pipeline per (shader source, entry point, override constants). Kernels are specialized by
 * WGSL `override` constants (tile sizes, activation, vector width), so a shape-agnostic kernel compiles
 * once per variant, never per call.
 */
export type OverrideConstants = Record<string, number>;

/** One pipeline a dispatch will need: what Gpu.plan() collects and PipelineCache.prepare() compiles. */
export interface PipelineRequest {
  label: string;
  code: string;
  constants?: OverrideConstants;
  entryPoint?: string;
}

export class PipelineCache {
  private readonly modules = new Map<string, GPUShaderModule>();
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  compiles = 0;

  constructor(private readonly device: GPUDevice) {}

  get(label: string, code: string, constants: OverrideConstants = {}, entryPoint = 'main'): GPUComputePipeline {
    const key = pipelineKey(label, code, constants, entryPoint);
    let pipeline = this.pipelines.get(key);
    if (pipeline) return pipeline;
    pipeline = this.device.createComputePipeline(this.descriptor(label, code, constants, entryPoint));
    this.compiles++;
    this.pipelines.set(key, pipeline);
    return pipeline;
  }

  /**
   * Compiles every request not cached yet, all at once with createComputePipelineAsync (the driver may
   * compile them in parallel, off the main thread), so later dispatches find them ready. Returns how
   * many were compiled; `onCompiled` is called after each. `concurrent: false` compiles one after the
   * other with createComputePipeline: on SwiftShader, which gains nothing from async creation, that
   * measured about 2× faster (40 s against 86 s for the tiny model's 17 pipelines on a shared machine).
   */
  async prepare(requests: readonly PipelineRequest[], onCompiled?: (done: number, total: number) => void, options: { concurrent?: boolean } = {}): Promise<number> {
    const missing = new Map<string, PipelineRequest>();
    for (const r of requests) {
      const key = pipelineKey(r.label, r.code, r.constants ?? {}, r.entryPoint ?? 'main');
      if (!this.pipelines.has(key)) missing.set(key, r);
    }
    let done = 0;
    onCompiled?.(0, missing.size);
    if (options.concurrent === false) {
      for (const [key, r] of missing) {
        this.pipelines.set(key, this.device.createComputePipeline(this.descriptor(r.label, r.code, r.constants ?? {}, r.entryPoint ?? 'main')));
        this.compiles++;
        onCompiled?.(++done, missing.size);
        // Between compiles the event loop runs: progress bars redraw, abort signals fire.
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      return missing.size;
    }
    await Promise.all([...missing].map(async ([key, r]) => {
      const pipeline = await this.device.createComputePipelineAsync(this.descriptor(r.label, r.code, r.constants ?? {}, r.entryPoint ?? 'main'));
      if (!this.pipelines.has(key)) {
        this.pipelines.set(key, pipeline);
        this.compiles++;
      }
      onCompiled?.(++done, missing.size);
    }));
    return missing.size;
  }

  private descriptor(label: string, code: string, constants: OverrideConstants, entryPoint: string): GPUComputePipelineDescriptor {
    let module = this.modules.get(code);
    if (!module) {
      module = this.device.createShaderModule({ label, code });
      this.modules.set(code, module);
    }
    const constantKey = Object.keys(constants).sort().map((name) => `${name}=${constants[name]}`).join(',');
    return { label: `${label}(${constantKey})`, layout: 'auto', compute: { module, entryPoint, constants } };
  }
}

function pipelineKey(label: string, code: string, constants: OverrideConstants, entryPoint: string): string {
  const constantKey = Object.keys(constants)
    .sort()
    .map((name) => `${name}=${constants[name]}`)
    .join(',');
  return `${label}|${entryPoint}|${constantKey}|${code.length}`;
}
