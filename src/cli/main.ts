import { Command, CommanderError } from '@commander-js/extra-typings';
import { PulseError } from '../errors.ts';
import { PULSE_VERSION } from '../version.ts';
import { pretrainCommand } from './pretrain.ts';
import { evalCommand } from './eval.ts';
import { runCommand } from './run.ts';
import { dataCommand } from './data.ts';
import { reportCommand } from './report.ts';
import { askCommand } from './ask.ts';
import { exportCommand } from './export.ts';
import { workerCommand } from './worker.ts';
import { statusCommand } from './status.ts';
import { planCommand } from './plan.ts';
import { setupCommand } from './setup.ts';

/** Exit status of a run stopped by bad input (a PulseError, or a command line commander rejects). */
export const EXIT_BAD_INPUT = 2;

/**
 * The `pulse` command. Each subcommand lives in its own module and loads its heavy dependencies
 * (the native addon, the model) only when it runs, so `pulse --help` stays instant.
 */
export function buildProgram(): Command {
  const program = new Command()
    .name('pulse')
    .description('Evaluate unlearning in multimodal models with the PULSE protocol: fine-tuned and pre-trained knowledge, and sustainability over a sequence of requests.')
    .version(PULSE_VERSION);
  for (const command of [runCommand(), workerCommand(), statusCommand(), planCommand(), pretrainCommand(), evalCommand(), askCommand(), reportCommand(), exportCommand(), dataCommand(), setupCommand()]) program.addCommand(command);
  // Every (sub)command throws instead of exiting, so that main() alone decides the exit status, and
  // words a command-line mistake as pulse words any bad input: one line.
  const configure = (c: Command) => {
    // commander's suggestion ("Did you mean --help?") goes on the same line
    c.exitOverride().configureOutput({ outputError: (text, write) => write(`pulse: ${text.replace(/^error: /, '').trim().replace(/\s*\n\s*/g, ' ')}\n`) });
    c.commands.forEach((s) => configure(s as Command));
  };
  configure(program);
  return program;
}

/**
 * Runs the CLI. Bad input of any kind ends in one line, `pulse: <what>: <why>`, and exit status 2;
 * anything else is a bug in pulse and prints its stack trace, saying so.
 */
export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander has printed its message (or the help / version text) already
      process.exitCode = error.exitCode === 0 ? 0 : EXIT_BAD_INPUT;
      return;
    }
    if (error instanceof PulseError) {
      process.stderr.write(`pulse: ${error.message}\n`);
      process.exitCode = EXIT_BAD_INPUT;
      return;
    }
    // An error a plug-in's code threw (its loss, its prepare) is the plug-in's, not a bug in pulse.
    const { userCodeFrame } = await import('../user-code.ts');
    const frame = userCodeFrame(error);
    if (frame) {
      process.stderr.write(`pulse: ${frame}: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}\n`);
      process.exitCode = EXIT_BAD_INPUT;
      return;
    }
    process.stderr.write(`pulse: internal error (a bug in pulse; please report it with the lines below)\n${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = 1;
  }
}
