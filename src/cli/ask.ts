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
    .option('--model <path>', 'an embedded model file (.safetensors) or a Hugging Face folder (LLaVA-1.5, Qwen2-VL, Qwen2.5-VL: its config.json model_type says which; default: the shipped base model)')
    .option('--kind <kind>', 'the model kind when the path does not tell (embedded, llava, qwen2_vl, qwen2_5_vl); a folder\'s model_type must agree')
    .option('--image <file>', 'an image file (PNG, JPEG, ...) the question is about')
    .requiredOption('--question <text>', 'the question')
    .requiredOption('--options <list>', "2 to 4 options separated by '|', e.g. \"Ann|Bob|Cy|Di\"", options)
    .addOption(new Option('--device <device>', 'Hugging Face models only: cpu, cuda or cuda:N'))
    .addOption(new Option('--dtype <dtype>', 'Hugging Face models only: weights in memory').choices(['float32', 'bfloat16', 'float16'] as const))
    .option('--threads <n>', 'CPU threads for libtorch (default: all cores)', integer(1))
    .option('--json', 'print one JSON object (answer, option log-likelihoods, top 20 next tokens with ids and log-probabilities)')
    .action(async (opts) => {
      const { ask } = await import('../api/ask.ts');
      const answer = await ask({
        model: opts.model, kind: opts.kind, image: opts.image, question: opts.question, options: opts.options, device: opts.device,
        dtype: opts.dtype, threads: opts.threads,
      });
      if (opts.json) {
        console.log(JSON.stringify(answer, null, 2));
        return;
      }
      const best = answer.options.findIndex((o) => o.letter === answer.most_likely);
      console.log(`model ${answer.model.name} (${answer.model.kind})`);
      console.log(`answer: ${answer.answer ?? `none (the greedy answer starts with ${JSON.stringify(answer.next_tokens[0]?.token ?? '')}, not an offered letter)`}`);
      console.log('log-likelihood of each option as the answer (summed over its tokens):');
      for (const [i, l] of answer.options.entries()) console.log(`  ${l.letter}: ${l.option.padEnd(24)} ${l.log_likelihood.toFixed(4).padStart(10)}${i === best ? '   <- most likely' : ''}`);
    });
}
