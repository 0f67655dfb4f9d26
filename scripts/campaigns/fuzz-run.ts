/**
 * Runs fuzz cases and judges them: each must end in success (exit 0) or exactly one `pulse: ` line with
 * exit status 2, within CASE_LIMIT_MS, with a peak RSS under RSS_LIMIT_KB, writing nothing outside its
 * own folder. A case runs as its own `pulse` process ('process', the campaign), or in a long-lived
 * sandbox process that calls the CLI's main() once per case ('sandbox', the test suite's slice: no
 * start-up per case; a hang or a crash there replaces the sandbox).
 */
import { spawn, fork, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, ftruncateSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorLines } from './cli.ts';
import type { FuzzCase } from './fuzz-cases.ts';

export const CASE_LIMIT_MS = 10_000;
export const RSS_LIMIT_KB = 1 << 20;
const PULSE = resolve('bin/pulse.js');
/** Reports the process's peak RSS (KiB) on fd 3 as it exits. */
const RSS_PROBE = 'data:text/javascript,import { writeSync } from "node:fs"; process.on("exit", () => { try { writeSync(3, String(process.resourceUsage().maxRSS)); } catch {} });';

export interface CaseResult { kind: 'ok' | 'refused' | 'fail'; why: string; ms: number; rssKb: number }

/** Writes a case's files into its folder (a sparse size extends a file with a hole: it claims what it does not hold). */
export function writeCase(dir: string, c: FuzzCase): void {
  mkdirSync(dir, { recursive: true });
  for (const f of c.files) {
    const path = join(dir, f.name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, f.bytes);
    if (f.sparseSize) {
      const fd = openSync(path, 'r+');
      ftruncateSync(fd, f.sparseSize);
      closeSync(fd);
    }
  }
}

/** How a command ended, judged. */
export function judge(code: number | null, signal: string | null, stderr: string, ms: number, rssKb: number): CaseResult {
  const lines = errorLines(stderr);
  const verdict = (kind: CaseResult['kind'], why: string): CaseResult => ({ kind, why, ms, rssKb });
  if (ms > CASE_LIMIT_MS) return verdict('fail', `took ${(ms / 1000).toFixed(1)} s`);
  if (rssKb > RSS_LIMIT_KB) return verdict('fail', `peak RSS ${(rssKb / 1024).toFixed(0)} MiB`);
  if (signal) return verdict('fail', `killed by ${signal}`);
  if (code === 0 && !lines.some((l) => l.startsWith('pulse: internal error'))) return verdict('ok', '');
  if (code === 2 && lines.length === 1 && lines[0]!.startsWith('pulse: ') && lines[0]!.length < 2000) return verdict('refused', lines[0]!);
  return verdict('fail', `exit ${code}, ${lines.length} lines: ${lines.slice(0, 4).join(' | ').slice(0, 500)}`);
}

/** One case as its own `pulse` process, killed past the time limit or at 1.5 times the memory limit. */
export function runCaseProcess(dir: string, c: FuzzCase): Promise<CaseResult> {
  writeCase(dir, c);
  return new Promise((done) => {
    const started = performance.now();
    const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: dir, HOME: dir };
    delete env.PULSE_FAULT;
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, ['--import', RSS_PROBE, PULSE, ...c.argv], { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
    } catch (e) {
      done({ kind: 'fail', why: `the case cannot be started: ${(e as Error).message}`, ms: 0, rssKb: 0 });
      return;
    }
    let stderr = '';
    let rss = '';
    child.stderr!.on('data', (d) => { stderr = (stderr + d).slice(-20_000); });
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (d) => { rss += d; });
    let watchedRss = 0;
    const watch = setInterval(() => {
      try {
        const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0);
        watchedRss = Math.max(watchedRss, kb);
        if (kb > 1.5 * RSS_LIMIT_KB) child.kill('SIGKILL');
      } catch { /* exited, or not Linux */ }
    }, 100);
    const timer = setTimeout(() => child.kill('SIGKILL'), CASE_LIMIT_MS + 2000);
    child.on('close', (code, signal) => {
      clearInterval(watch);
      clearTimeout(timer);
      done(judge(code, signal, stderr, performance.now() - started, Math.max(Number(rss) || 0, watchedRss)));
    });
  });
}

// --- the sandbox: one process calling main() per case ---

interface Request { id: number; cwd: string; argv: string[] }
interface Reply { id: number; code: number; stderr: string; rssKb: number }

const ROLE = 'PULSE_FUZZ_SANDBOX';

/** What the commands import on first use: loaded (and transpiled) before the first case, so that no case pays for it. */
const PRELOAD = ['../../src/protocol/validate.ts', '../../src/protocol/runner.ts', '../../src/report/index.ts', '../../src/data/inspect.ts',
  '../../src/data/protocol-data.ts', '../../src/protocol/results-csv.ts', '../../src/protocol/eval-model.ts', '../../src/cli/main.ts'];

async function serve(): Promise<void> {
  for (const module of PRELOAD) await import(module);
  const { main } = await import('../../src/cli/main.ts');
  const { METHODS, unregisterMethod } = await import('../../src/unlearn/registry.ts');
  let leaked: unknown;
  process.on('unhandledRejection', (e) => { leaked ??= e; });
  process.on('disconnect', () => process.exit(0));
  process.on('message', async (r: Request) => {
    leaked = undefined;
    let stderr = '';
    const [out, err] = [process.stdout.write, process.stderr.write];
    process.stdout.write = (() => true) as typeof process.stdout.write;
    process.stderr.write = ((chunk: string | Uint8Array) => { stderr += String(chunk); return true; }) as typeof process.stderr.write;
    try {
      process.chdir(r.cwd);
      await main(['node', 'pulse', ...r.argv]);
    } catch (e) {
      stderr += `escaped main(): ${(e as Error)?.stack ?? String(e)}\n`;
      process.exitCode = 1;
    } finally {
      process.stdout.write = out;
      process.stderr.write = err;
      // a plug-in's methods stay registered in this process: each case starts from the built-in ones
      for (const name of [...METHODS.keys()]) unregisterMethod(name);
    }
    await new Promise((resolve) => setImmediate(resolve));
    if (leaked !== undefined) { stderr += `a rejection nobody handled: ${String(leaked)}\n`; process.exitCode = 1; }
    const code = typeof process.exitCode === 'number' ? process.exitCode : 0;
    process.exitCode = undefined;
    process.send!({ id: r.id, code, stderr, rssKb: process.resourceUsage().maxRSS } satisfies Reply);
  });
  process.send!('ready');
}

if (process.env[ROLE] === 'serve') void serve();

/** The sandbox process: replaced after a hang or a crash. */
export class Sandbox {
  private child: ChildProcess | undefined;
  private id = 0;

  private ready: Promise<void> | undefined;

  private start(): ChildProcess {
    if (this.child) return this.child;
    const env: NodeJS.ProcessEnv = { ...process.env, [ROLE]: 'serve' };
    delete env.NODE_TEST_CONTEXT;
    delete env.PULSE_FAULT;
    this.child = fork(fileURLToPath(import.meta.url), [], { execArgv: ['--import', import.meta.resolve('tsx')], env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    this.child.stderr!.resume();
    const child = this.child;
    this.ready = new Promise((resolve) => child.once('message', () => resolve()));
    return child;
  }

  async run(dir: string, c: FuzzCase): Promise<CaseResult> {
    writeCase(dir, c);
    const child = this.start();
    await this.ready;
    const id = this.id++;
    const started = performance.now();
    return new Promise((done) => {
      const finish = (result: CaseResult, replace: boolean) => {
        clearTimeout(timer);
        child.off('message', onMessage).off('exit', onExit);
        if (replace) { this.child = undefined; child.kill('SIGKILL'); }
        done(result);
      };
      const onMessage = (r: Reply) => { if (r.id === id) finish(judge(r.code, null, r.stderr, performance.now() - started, r.rssKb), false); };
      const onExit = (code: number | null, signal: string | null) => finish({ kind: 'fail', why: `the sandbox died (${signal ?? code})`, ms: performance.now() - started, rssKb: 0 }, true);
      const timer = setTimeout(() => finish({ kind: 'fail', why: `no answer within ${CASE_LIMIT_MS} ms`, ms: CASE_LIMIT_MS, rssKb: 0 }, true), CASE_LIMIT_MS);
      child.on('message', onMessage).on('exit', onExit);
      child.send({ id, cwd: dir, argv: c.argv } satisfies Request);
    });
  }

  close(): void {
    this.child?.kill('SIGKILL');
    this.child = undefined;
  }
}

/** Removes a case's folder (kept when it failed, to look at). */
export const removeCase = (dir: string) => rmSync(dir, { recursive: true, force: true });
