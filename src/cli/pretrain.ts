import { Command } from '@commander-js/extra-typings';
import { integer } from './options.ts';

export function pretrainCommand() {
  return new Command('pretrain')
    .description('Pre-train the embedded multimodal model from scratch on the generated world (celebrities by popularity, face descriptions, scene tasks) and save it with its manifest. The shipped assets/base.safetensors is this command with its defaults.')
    .option('--out <path>', 'where to write the model (safetensors; a readable manifest is written beside it as <path>.json)', 'assets/base.safetensors')
    .option('--steps <n>', 'training steps (default: the shipped recipe)', integer(1))
    .option('--world-seed <n>', 'seed of the world to train on', integer(0))
    .option('--seed <n>', 'training seed', integer(0))
    .option('--threads <n>', 'CPU threads for libtorch (default: all cores)', integer(1))
    .action(async (opts) => {
      const { pretrain, DEFAULT_PRETRAIN } = await import('../train/pretrain.ts');
      const { consoleProgress } = await import('../progress.ts');
      const recipe = {
        ...DEFAULT_PRETRAIN,
        ...(opts.steps !== undefined ? { steps: opts.steps } : {}),
        ...(opts.worldSeed !== undefined ? { worldSeed: opts.worldSeed } : {}),
        ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
      };
      const { manifest, model } = await pretrain(recipe, opts.out, { progress: consoleProgress, ...(opts.threads ? { threads: opts.threads } : {}) });
      model.dispose();
      console.log(`saved ${opts.out} (${manifest.training.steps} steps in ${manifest.training.seconds.toFixed(0)} s, world seed ${manifest.world.seed}, hash ${manifest.world.hash})`);
    });
}
