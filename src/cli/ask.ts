import { Command, InvalidArgumentError, Option } from '@commander-js/extra-typings';
import { integer } from './options.ts';

function options(value: string): string[] {
  const items = value.split('|').map((s) => s.trim());
  if (items.length < 2 || items.length > 4 || items.some((s) => s === '')) throw new InvalidArgumentError(`expected 2 to 4 non-empty options separated by '|', got '${value}'`);
  return items;
}

export function askCommand() {
  return new Command('ask')
    .description('Ask a model one multiple-choice question (with an image or not): print its answer as letter scoring reads it, and the log-likelihood of each option as likelihood scoring ranks them; with --json also the 20 most probable next tokens where the answer is read.')
    .requiredOption('--model <path>', 'an embedded model file (.safetensors) or a Hugging Face folder (LLaVA-1.5, Qwen2-VL, Qwen2.5-VL: its config.json model_type says which)')
    .option('--kind <kind>', 'the model kind when the path does not tell (embedded, llava, qwen2_vl, qwen2_5_vl); a folder\'s model_type must agree')
    .option('--image <file>', 'an image file (PNG, JPEG, ...) the question is about')
    .requiredOption('--question <text>', 'the question')
    .requiredOption('--options <list>', "2 to 4 options separated by '|', e.g. \"Ann|Bob|Cy|Di\"", options)
    .addOption(new Option('--device <device>', 'Hugging Face models only: cpu, cuda or cuda:N'))
    .addOption(new Option('--dtype <dtype>', 'Hugging Face models only: weights in memory').choices(['float32', 'bfloat16', 'float16'] as const))
    .option('--threads <n>', 'CPU threads for libtorch (default: all cores)', integer(1))
    .option('--json', 'print one JSON object (answer, option log-likelihoods, top 20 next tokens with ids and log-probabilities)')
    .action(async (opts) => {
      const { readFile } = await import('node:fs/promises');
      const { loadModel, specForPath } = await import('../model/registry.ts');
      const { checkedImage } = await import('../data/images.ts');
      const { setNumThreads, defaultThreads, noGrad, scope } = await import('../torch/index.ts');
      const { LETTERS } = await import('../text/multiple-choice.ts');
      const { PulseError } = await import('../errors.ts');
      setNumThreads(opts.threads ?? defaultThreads());
      const extra: Record<string, unknown> = {};
      if (opts.device) extra.device = opts.device;
      if (opts.dtype) extra.dtype = opts.dtype;
      let bytes: Uint8Array | undefined;
      if (opts.image) {
        try { bytes = await readFile(opts.image); } catch (e) { throw new PulseError(`--image ${opts.image}: ${(e as Error).message}`); }
      }
      const image = bytes ? await checkedImage(bytes, opts.image!) : undefined;
      const model = await loadModel(specForPath(opts.model, opts.kind, extra));
      try {
        const question = { question: opts.question, options: opts.options, answer: 'A' as const, image };
        const letter = (await model.predict([question], 'letter'))[0]!.choice;
        const batch = await model.encode(opts.options.map((o) => ({ image, prompt: opts.question, answer: o })));
        const sums = noGrad(() => scope(() => model.answerLogProbs(batch).sum.toArray()));
        batch.dispose();
        const best = sums.indexOf(Math.max(...sums));
        const next = await model.nextTokens(question, 20);
        const likelihood = opts.options.map((o, i) => ({ letter: LETTERS[i]!, option: o, log_likelihood: sums[i]! }));
        if (opts.json) {
          console.log(JSON.stringify({
            model: { kind: model.info.kind, name: model.info.name }, question: opts.question, image: opts.image ?? null,
            answer: letter ?? null, most_likely: LETTERS[best], options: likelihood,
            next_tokens: next.map((t) => ({ id: t.id, token: t.token, log_prob: t.logProb })),
          }, null, 2));
          return;
        }
        console.log(`model ${model.info.name} (${model.info.kind})`);
        console.log(`answer: ${letter ?? `none (the greedy answer starts with ${JSON.stringify(next[0]?.token ?? '')}, not an offered letter)`}`);
        console.log('log-likelihood of each option as the answer (summed over its tokens):');
        for (const [i, l] of likelihood.entries()) console.log(`  ${l.letter}: ${l.option.padEnd(24)} ${l.log_likelihood.toFixed(4).padStart(10)}${i === best ? '   <- most likely' : ''}`);
      } finally {
        model.dispose();
      }
    });
}
