import type { Command } from 'commander';
import { getDevice, listAdapters, type AdapterCandidate } from '../../runtime/index.js';

const FEATURES: GPUFeatureName[] = ['timestamp-query', 'subgroups', 'shader-f16'];

export function registerInfo(program: Command): void {
  program
    .command('info')
    .description('list the WebGPU adapters geolens sees, with features and limits, and mark the one it uses')
    .option('--adapter <name>', 'pick one as GEOLENS_ADAPTER does: hardware, lavapipe, swiftshader, or part of a name')
    .action(async (flags: { adapter?: string }) => {
      const gpu = await getDevice({ log: () => {}, ...(flags.adapter ? { adapter: flags.adapter } : {}) });
      const l = gpu.limits;
      console.log(`adapter: ${gpu.adapterName}${gpu.isSoftware ? ' (software)' : ''}`);
      console.log(`features: ${Object.entries(gpu.features).filter(([, on]) => on).map(([name]) => name).join(', ') || 'none'}`);
      console.log(`limits: binding ${l.maxStorageBufferBindingSize} B, workgroup memory ${l.maxComputeWorkgroupStorageSize} B, invocations ${l.maxComputeInvocationsPerWorkgroup}`);
      const { adapters, refused } = await listAdapters();
      console.log(`\nadapters, in the order geolens prefers them (* = in use; GEOLENS_ADAPTER or --adapter picks another):`);
      for (const candidate of adapters) console.log(describeCandidate(candidate, candidate.name === gpu.adapterName));
      for (const line of refused) console.log(`  not usable: ${line}`);
    });
}

function describeCandidate(candidate: AdapterCandidate, chosen: boolean): string {
  const { adapter } = candidate;
  const l = adapter.limits;
  const features = FEATURES.filter((f) => adapter.features.has(f)).join(', ') || 'none';
  return [
    `${chosen ? '*' : ' '} ${candidate.name} [${candidate.kind}] from ${candidate.source === 'system' ? 'the Vulkan loader' : candidate.source}`,
    `    features: ${features}`,
    `    limits: binding ${mib(l.maxStorageBufferBindingSize)}, buffer ${mib(l.maxBufferSize)}, workgroup memory ${l.maxComputeWorkgroupStorageSize} B, ` +
      `invocations ${l.maxComputeInvocationsPerWorkgroup}, workgroups per dimension ${l.maxComputeWorkgroupsPerDimension}`,
  ].join('\n');
}

function mib(bytes: number): string {
  return bytes >= 2 ** 30 ? `${+(bytes / 2 ** 30).toFixed(2)} GiB` : `${+(bytes / 2 ** 20).toFixed(1)} MiB`;
}
