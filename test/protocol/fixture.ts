import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { stringify } from 'yaml';
import { pretrain, DEFAULT_PRETRAIN } from '../../src/train/pretrain.ts';
import { TINY_MODEL_CONFIG } from '../../src/model/embedded/config.ts';

// The pulse commands tests start cache into the checkout's .cache/pulse (npm test sets it), never the user's ~/.cache,
// also when a test file runs alone.
process.env.PULSE_CACHE ??= resolve('.cache/pulse');

/**
 * A scratch folder with a tiny pre-trained base model and a quick-preset config pointing at it:
 * the protocol end to end in seconds.
 */
export async function protocolFixture(overrides: Record<string, unknown> = {}): Promise<{ dir: string; config: string; base: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-run-'));
  const base = join(dir, 'base.safetensors');
  const { model } = await pretrain({ ...DEFAULT_PRETRAIN, steps: 30, batchSize: 16, model: TINY_MODEL_CONFIG }, base, { threads: 1 });
  model.dispose();
  const config = join(dir, 'config.yaml');
  writeFileSync(config, stringify({
    threads: 1,
    model: { path: base },
    world: { seed: 0, dir: join(dir, 'world') },
    fine_tune: { steps: 15 },
    eval: { general_items: 20 },
    ...overrides,
  }));
  return { dir, config, base };
}

const PULSE = resolve('bin/pulse.js');

/** Runs the `pulse` CLI in `cwd` (with `env` added); with `killWhen`, SIGKILLs it as soon as its stderr so far matches. */
export function pulseCli(cwd: string, args: string[], killWhen?: RegExp, env: Record<string, string> = {}): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [PULSE, ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
      if (killWhen?.test(stderr)) child.kill('SIGKILL');
    });
    child.on('exit', (code, signal) => done({ code, signal, stderr }));
  });
}

/**
 * results.json without what legitimately differs between two runs of one configuration: timestamps,
 * durations and where each cell ran (scripts/compare-results.ts ignores the same).
 */
export function comparableResults(path: string): unknown {
  const r = JSON.parse(readFileSync(path, 'utf8'));
  delete r.run.created_at;
  delete r.run.finished_at;
  r.run.id = '';
  for (const s of r.scenarios) {
    for (const m of s.methods) {
      delete m.placement;
      for (const q of m.requests) delete q.seconds;
    }
  }
  return r;
}

/** false when a Slurm node is up (the Slurm executor's tests run), else why they are skipped. */
export function slurmSkip(): false | string {
  try {
    const states = execFileSync('sinfo', ['-h', '-o', '%T'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
    if (/idle|mixed|alloc/.test(states)) return false;
  } catch { /* no sinfo, or no controller answering */ }
  return 'no Slurm running here (start one: scripts/slurm-local.sh start; .ci/run does)';
}
