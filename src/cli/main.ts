import { Command } from '@commander-js/extra-typings';
import { PulseError } from '../errors.ts';
import { pretrainCommand } from './pretrain.ts';
import { evalCommand } from './eval.ts';
import { runCommand } from './run.ts';
import { dataCommand } from './data.ts';
import { reportCommand } from './report.ts';

/**
 * The `pulse` command. Each subcommand lives in its own module and loads its heavy dependencies
 * (the native addon, the model) only when it runs, so `pulse --help` stays instant.
 */
export function buildProgram(): Command {
  const program = new Command()
    .name('pulse')
    .description('Evaluate unlearning in multimodal models with the PULSE protocol: fine-tuned and pre-trained knowledge, and sustainability over a sequence of requests.')
    .version('0.1.0')
    .showHelpAfterError();
  program.addCommand(runCommand());
  program.addCommand(pretrainCommand());
  program.addCommand(evalCommand());
  program.addCommand(reportCommand());
  program.addCommand(dataCommand());
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof PulseError) {
      process.stderr.write(`pulse: ${error.message}\n`);
      process.exitCode = 1;
      return;
    }
    throw error;
  }
}
