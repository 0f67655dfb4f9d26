import { Command, Option } from '@commander-js/extra-typings';
import { integer } from './options.ts';

export function evalCommand() {
  return new Command('eval')
    .description('Score a model on multiple-choice sets and print accuracy by set and modality (multimodal / text-only), in both scoring modes unless --mode is given.')
    .option('--model <path>', 'an embedded model file (safetensors with a pulse manifest) or a Hugging Face folder (LLaVA-1.5, Qwen2-VL, Qwen2.5-VL)', 'assets/base.safetensors')
    .option('--kind <kind>', 'the model kind when the path does not tell (embedded, llava, qwen2_vl, qwen2_5_vl); a folder\'s model_type must agree')
    .option('--set <names>', 'comma-separated sets: general, celebrities, fictitious, or data files (MLLMU-Bench .parquet, MMBench .tsv)', 'general,celebrities,fictitious')
    .addOption(new Option('--mode <mode>', 'scoring mode').choices(['letter', 'likelihood', 'both'] as const).default('both' as const))
    .option('--world-dir <dir>', 'the generated world the model belongs to (generated there if missing)', '.cache/pulse/world-0')
    .option('--batch-size <n>', 'questions per forward pass (default: 256 for the embedded model, 8 for others)', integer(1))
    .option('--threads <n>', 'CPU threads for libtorch (default: all cores)', integer(1))
    .option('--json', 'print {"<set>": {"overall", "multimodal", "text_only", "n"}} (per mode when --mode both)')
    .action(async (opts) => {
      const { loadModel, specForPath } = await import('../model/registry.ts');
      const { loadProtocolData, loadQuestionFile } = await import('../data/protocol-data.ts');
      const { evaluateModelOnSets, EVAL_SETS } = await import('../protocol/eval-model.ts');
      const { scoreQuestions } = await import('../protocol/evaluate.ts');
      const { setNumThreads, defaultThreads } = await import('../torch/index.ts');
      const { PulseError } = await import('../errors.ts');
      setNumThreads(opts.threads ?? defaultThreads());
      const requested = opts.set.split(',').map((s) => s.trim());
      const isFile = (s: string) => s.endsWith('.parquet') || s.endsWith('.tsv');
      for (const s of requested) if (!isFile(s) && !(EVAL_SETS as readonly string[]).includes(s)) throw new PulseError(`unknown set '${s}' (sets: ${EVAL_SETS.join(', ')}, or a .parquet / .tsv file)`);
      const sets = requested.filter((s) => !isFile(s)) as (typeof EVAL_SETS)[number][];
      const files = requested.filter(isFile);
      const fileQuestions = await Promise.all(files.map(loadQuestionFile));
      const model = await loadModel(specForPath(opts.model, opts.kind));
      const { world, defaultScoring } = model.info;
      const batchSize = opts.batchSize ?? (model.info.kind === 'embedded' ? 256 : 8);
      const out: Record<string, unknown> = {};
      const modes = opts.mode === 'both' ? (['likelihood', 'letter'] as const) : ([opts.mode] as const);
      try {
        // A model of no generated world (a LLaVA) is scored on the world's sets as on any data.
        const data = sets.length ? await loadProtocolData({ dir: opts.worldDir, seed: world?.seed ?? 0 }) : null;
        if (data && world && data.world.hash !== world.hash) throw new PulseError(`${opts.model} was trained on world ${world.hash}, but ${opts.worldDir} holds world ${data.world.hash}`);
        for (const mode of modes) {
          const scored: Record<string, unknown> = data ? await evaluateModelOnSets(model, data, sets, mode, batchSize) : {};
          for (const [i, f] of files.entries()) scored[f] = await scoreQuestions(model, fileQuestions[i]!, mode, batchSize);
          out[mode] = scored;
        }
      } finally {
        model.dispose();
      }
      if (opts.json) {
        console.log(JSON.stringify(modes.length === 1 ? out[modes[0]!] : out, null, 2));
        return;
      }
      console.log(`model ${opts.model} (default scoring: ${defaultScoring})`);
      for (const mode of modes) {
        console.log(`\n${mode}${mode === defaultScoring ? ' (default)' : ''}`);
        console.log(`  ${'set'.padEnd(12)} ${'overall'.padStart(8)} ${'multimodal'.padStart(11)} ${'text-only'.padStart(10)} ${'n'.padStart(6)}`);
        for (const [set, r] of Object.entries(out[mode] as Record<string, { overall: number | null; multimodal: number | null; text_only: number | null; n: number; known_80?: number }>)) {
          const f = (v: number | null) => (v === null ? '—' : `${v.toFixed(1)}%`);
          console.log(`  ${set.padEnd(Math.max(12, set.length))} ${f(r.overall).padStart(8)} ${f(r.multimodal).padStart(11)} ${f(r.text_only).padStart(10)} ${String(r.n).padStart(6)}${r.known_80 !== undefined ? `   ${r.known_80} celebrities >= 80% in both modalities` : ''}`);
        }
      }
    });
}
