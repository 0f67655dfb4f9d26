import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { protocolFixture } from '../../test/protocol/fixture.ts';

const PULSE = resolve('bin/pulse.js');

export interface CliOutcome { code: number | null; signal: string | null; stdout: string; stderr: string; ms: number }

/**
 * Runs the `pulse` CLI in `cwd` with `env` added; kills it with SIGKILL after `killAfterMs` (a crash at
 * a moment of the run) or `timeoutMs` (a hang), whichever comes first.
 */
export function runPulse(cwd: string, args: string[], options: { env?: Record<string, string>; killAfterMs?: number; timeoutMs?: number } = {}): Promise<CliOutcome> {
  return new Promise((done) => {
    const started = performance.now();
    const env = { ...process.env, ...options.env };
    if (!options.env?.PULSE_FAULT) delete env.PULSE_FAULT;
    const child = spawn(process.execPath, [PULSE, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timers = [options.killAfterMs, options.timeoutMs].filter((t): t is number => t !== undefined).map((t) => setTimeout(() => child.kill('SIGKILL'), t));
    child.on('close', (code, signal) => {
      timers.forEach(clearTimeout);
      done({ code, signal, stdout, stderr, ms: performance.now() - started });
    });
  });
}

/** What a command printed besides its progress (`[pulse] ...`, `[<label>] step ...`): a refusal is exactly one `pulse: ` line. */
export function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('['));
}

/** The write-layer operation counts a run printed (PULSE_FAULT=count). */
export function ioCountsOf(stderr: string): Record<'write' | 'fsync' | 'rename', number> {
  const m = /\[pulse\] io operations: write (\d+), fsync (\d+), rename (\d+)/.exec(stderr);
  if (!m) throw new Error(`no io operation counts in:\n${stderr.slice(-2000)}`);
  return { write: Number(m[1]), fsync: Number(m[2]), rename: Number(m[3]) };
}

/**
 * The campaigns' run: a quick run of the tiny model of the tests (protocolFixture), whose world and
 * fine-tune are built once by a warm-up run, and its uninterrupted reference run with its
 * write-layer counts and wall time.
 */
export async function campaignReference(extra: string[]): Promise<{
  dir: string; command: (out: string) => string[]; reference: string; counts: ReturnType<typeof ioCountsOf>; files: ReturnType<typeof ioTrace>; ms: number;
}> {
  const fixture = await protocolFixture();
  const command = (out: string) => ['run', '--preset', 'quick', '--config', fixture.config, '--out', out, ...extra];
  const warm = await runPulse(fixture.dir, command('runs/warm-up'));
  if (warm.code !== 0) throw new Error(`the warm-up run failed:\n${warm.stderr.slice(-3000)}`);
  const reference = resolve(fixture.dir, 'runs/reference');
  const ref = await runPulse(fixture.dir, command(reference), { env: { PULSE_FAULT: 'trace' } });
  if (ref.code !== 0) throw new Error(`the reference run failed:\n${ref.stderr.slice(-3000)}`);
  return { dir: fixture.dir, command, reference, counts: ioCountsOf(ref.stderr), files: ioTrace(ref.stderr, reference), ms: ref.ms };
}

/** The file of each write-layer operation of a run (PULSE_FAULT=trace), relative to its run folder, by kind and number. */
function ioTrace(stderr: string, runDir: string): Record<'write' | 'fsync' | 'rename', string[]> {
  const out = { write: [] as string[], fsync: [] as string[], rename: [] as string[] };
  for (const m of stderr.matchAll(/^\[pulse\] io (write|fsync|rename) (\d+) (.*)$/gm)) {
    out[m[1] as keyof typeof out][Number(m[2]) - 1] = m[3]!.startsWith(`${runDir}/`) ? m[3]!.slice(runDir.length + 1) : m[3]!;
  }
  return out;
}

/** Where in a run a file is written: the phase a fault or a kill at it lands in. */
export function phaseOf(file: string): string {
  if (/^(charts\/|report\.(md|html)$)/.test(file)) return 'report';
  if (/^(results\.json|samples\.parquet|results\.csv|phases\.json)$/.test(file)) return 'finish';
  if (/^cells\/[^/]+\/r\d+\.safetensors$/.test(file)) return 'cell checkpoint';
  if (/^cells\/[^/]+\/r\d+\.parquet$/.test(file)) return 'cell samples';
  if (/^cells\/[^/]+\/claim\.\d+$/.test(file) || /^prepare\/[^/]+\/claim\.\d+$/.test(file)) return 'claim';
  if (file.startsWith('cells/')) return 'cell record';
  if (file.startsWith('prepare/')) return 'preparation';
  if (file.startsWith('workers/')) return 'worker journal';
  if (/^(run\.json|launch\.json|config\.yaml|run\.lock)$/.test(file)) return 'start';
  return 'other';
}
