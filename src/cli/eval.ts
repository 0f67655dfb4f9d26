import { Command, Option } from '@commander-js/extra-typings';
import { integer } from './options.ts';

export function evalCommand() {
  return new Command('eval')
    .description('Score a model on multiple-choice sets and print accuracy by set and modality (multimodal / text-only), in both scoring modes unless --mode is given.')
    .option('--model <path>', 'an embedded model file (safetensors with a pulse manifest) or a Hugging Face folder (LLaVA-1.5, Qwen2-VL, Qwen2.5-VL; default: the shipped base model)')
    .option('--kind <kind>', 'the model kind when the path does not tell (embedded, llava, qwen2_vl, qwen2_5_vl); a folder\'s model_type must agree')
    .option('--set <names>', 'comma-separated sets: general, celebrities, fictitious, or data files (MLLMU-Bench .parquet, MMBench .tsv)', 'general,celebrities,fictitious')
    .addOption(new Option('--mode <mode>', 'scoring mode').choices(['letter', 'likelihood', 'both'] as const).default('both' as const))
    .option('--world-dir <dir>', 'the generated world the model belongs to, generated there if missing (default: world-0 in the cache)')
    .option('--batch-size <n>', 'questions per forward pass (default: 256 for the embedded model, 8 for others)', integer(1))
    .option('--threads <n>', 'CPU threads for libtorch (default: all cores)', integer(1))
    .option('--json', 'print {"<set>": {"overall", "multimodal", "text_only", "n"}} (per mode when --mode both)')
    .action(async (opts) => {
      const { evaluate } = await import('../api/evaluate.ts');
      const { model, scores } = await evaluate({
        model: opts.model, kind: opts.kind, sets: opts.set.split(',').map((s) => s.trim()), mode: opts.mode, worldDir: opts.worldDir,
        batchSize: opts.batchSize, threads: opts.threads,
      });
      const modes = Object.keys(scores) as (keyof typeof scores)[];
      if (opts.json) {
        console.log(JSON.stringify(modes.length === 1 ? scores[modes[0]!] : scores, null, 2));
        return;
      }
      console.log(`model ${model.path} (default scoring: ${model.defaultScoring})`);
      for (const mode of modes) {
        console.log(`\n${mode}${mode === model.defaultScoring ? ' (default)' : ''}`);
        console.log(`  ${'set'.padEnd(12)} ${'overall'.padStart(8)} ${'multimodal'.padStart(11)} ${'text-only'.padStart(10)} ${'n'.padStart(6)}`);
        for (const [set, r] of Object.entries(scores[mode]!)) {
          const f = (v: number | null) => (v === null ? '—' : `${v.toFixed(1)}%`);
          console.log(`  ${set.padEnd(Math.max(12, set.length))} ${f(r.overall).padStart(8)} ${f(r.multimodal).padStart(11)} ${f(r.text_only).padStart(10)} ${String(r.n).padStart(6)}${r.known_80 !== undefined ? `   ${r.known_80} celebrities >= 80% in both modalities` : ''}`);
        }
      }
    });
}
