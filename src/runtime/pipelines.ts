/**
 * One compiled pipeline per (shader source, entry point, override constants). Kernels are specialized by
 * WGSL `override` constants (tile sizes, activation, vector width), so a shape-agnostic kernel compiles
 * once per variant, never per call.
 */
export type OverrideConstants = Record<string, number>;

export class PipelineCache {
  private readonly modules = new Map<string, GPUShaderModule>();
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  compiles = 0;

  constructor(private readonly device: GPUDevice) {}

  get(label: string, code: string, constants: OverrideConstants = {}, entryPoint = 'main'): GPUComputePipeline {
    const constantKey = Object.keys(constants)
      .sort()
      .map((name) => `${name}=${constants[name]}`)
      .join(',');
    const key = `${label}|${entryPoint}|${constantKey}|${code.length}`;
    let pipeline = this.pipelines.get(key);
    if (pipeline) return pipeline;
    let module = this.modules.get(code);
    if (!module) {
      module = this.device.createShaderModule({ label, code });
      this.modules.set(code, module);
    }
    pipeline = this.device.createComputePipeline({
      label: `${label}(${constantKey})`,
      layout: 'auto',
      compute: { module, entryPoint, constants },
    });
    this.compiles++;
    this.pipelines.set(key, pipeline);
    return pipeline;
  }
}
