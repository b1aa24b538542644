import type { Command } from 'commander';
import { getDevice } from '../../runtime/index.js';

export function registerInfo(program: Command): void {
  program
    .command('info')
    .description('show the WebGPU adapter geolens uses')
    .action(async () => {
      const gpu = await getDevice({ log: () => {} });
      const l = gpu.limits;
      console.log(`adapter: ${gpu.adapterName}${gpu.isSoftware ? ' (software)' : ''}`);
      console.log(`features: ${Object.entries(gpu.features).filter(([, on]) => on).map(([name]) => name).join(', ') || 'none'}`);
      console.log(`limits: binding ${l.maxStorageBufferBindingSize} B, workgroup memory ${l.maxComputeWorkgroupStorageSize} B, invocations ${l.maxComputeInvocationsPerWorkgroup}`);
    });
}
