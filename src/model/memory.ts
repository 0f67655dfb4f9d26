import { PulseError } from '../errors.ts';

/** libtorch's words for a failed allocation, on a GPU (CUDA) and on the CPU. */
const OUT_OF_MEMORY = /out of memory|DefaultCPUAllocator: can't allocate memory|bad_alloc/i;

/**
 * An allocation failure as one line that says which settings lower the memory a step needs.
 * Nothing is lost: every finished request is on disk, and the same command continues the run.
 */
export function outOfMemory(error: unknown, settings: { device: string; microBatch: number; checkpointing: boolean }): PulseError | null {
  const message = error instanceof Error ? error.message : String(error);
  if (!OUT_OF_MEMORY.test(message)) return null;
  const where = settings.device.startsWith('cuda') ? `GPU memory (${settings.device})` : 'memory';
  const lower = [
    settings.microBatch > 1 ? `model.micro_batch (now ${settings.microBatch})` : null,
    settings.checkpointing ? null : 'model.gradient_checkpointing: true',
    'eval.batch_size',
  ].filter(Boolean).join(', or ');
  return new PulseError(`out of ${where}: ${message.split('\n')[0]!.slice(0, 160)}; lower ${lower}; `
    + 'finished requests are saved: the same command continues the run', { cause: error });
}
