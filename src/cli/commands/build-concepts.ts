import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { buildConceptBankFromClip } from '../../api/concept-bank-builder.js';
import { GeolensError } from '../../runtime/errors.js';
import { conceptBankToSafetensors } from '../../model/concepts/bank.js';
import { clipOptions, downloadFlags, geoclipOptions, locatorOptions, quietDevice, quietOption, type ModelFlags } from '../options.js';

export function registerBuildConcepts(program: Command): void {
  const command = quietOption(downloadFlags(geoclipOptions(clipOptions(
    program
      .command('build-concepts')
      .description('embed concept prompts with CLIP\'s text tower and GeoCLIP\'s image MLP into a concept bank')
      .requiredOption('--out <file>', 'where to write the bank (safetensors)')
      .option('--vocab <location>', 'CLIP BPE vocabulary (bpe_simple_vocab_16e6.txt.gz)', process.env.GEOLENS_CLIP_VOCAB)
      .option('--add <text...>', 'your own concept texts, appended to the curated list')
      .option('--only', 'use only the --add texts, not the curated list')
      .option('--base <bank>', 'append to this existing bank'),
  ))));
  command.action(async (flags: ModelFlags & { out: string; vocab?: string; add?: string[]; only?: boolean; base?: string }) => {
    if (flags.only && !flags.add?.length) throw new GeolensError('--only needs at least one --add text');
    await quietDevice(flags);
    const options = locatorOptions(flags);
    const bank = await buildConceptBankFromClip({
      clipWeights: options.clipWeights,
      clipConfig: options.clipConfig as string | undefined,
      geoclipWeights: options.geoclipWeights,
      vocabulary: flags.vocab,
      prompts: flags.only ? [] : undefined,
      extraTexts: flags.add,
      baseBank: flags.base,
      dtype: options.dtype,
      offline: flags.offline,
      cacheDir: flags.cacheDir,
      onProgress: options.onProgress,
    });
    await writeFile(flags.out, conceptBankToSafetensors(bank));
    console.log(`wrote ${bank.names.length} concepts (${bank.dim}-d) to ${flags.out}`);
  });
}
