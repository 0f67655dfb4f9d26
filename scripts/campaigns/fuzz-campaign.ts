import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { writeFuzzInputs } from './fuzz-inputs.ts';
import { fuzzCases, FORMATS, type Format } from './fuzz-cases.ts';
import { removeCase, runCaseProcess, Sandbox, type CaseResult } from './fuzz-run.ts';

export interface FormatTally { cases: number; ok: number; refused: number; failures: string[]; maxMs: number; maxRssKb: number }
export interface CampaignResult { tallies: Map<Format, FormatTally>; outside: string[]; root: string; seconds: number }

/** Every file under a folder with its size and modification time: what "nothing written" is checked against. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) visit(p);
      else { const s = statSync(p); out.set(relative(dir, p), `${s.size} ${s.mtimeMs}`); }
    }
  };
  visit(dir);
  return out;
}

const gitStatus = () => {
  try { return execFileSync('git', ['status', '--porcelain', '--untracked-files=all'], { encoding: 'utf8' }); } catch { return ''; }
};

/**
 * The fuzz campaign: `cases` per format (seeded), each in its own folder under a fresh temp root,
 * run as its own process or in the sandbox. Afterwards the inputs must be as they were, the temp root
 * must hold nothing but the inputs and the case folders, and the checkout must be unchanged.
 */
export async function runFuzzCampaign(options: {
  cases: number; formats?: readonly Format[]; seed?: number; mode: 'process' | 'sandbox'; jobs?: number; progress?: (line: string) => void; onCase?: (line: string) => void;
}): Promise<CampaignResult> {
  const started = performance.now();
  const root = mkdtempSync(join(tmpdir(), 'pulse-fuzz-'));
  const inputs = await writeFuzzInputs(join(root, 'inputs'));
  const before = snapshot(inputs.dir);
  const git = gitStatus();
  const sandbox = options.mode === 'sandbox' ? new Sandbox() : null;
  const tallies = new Map<Format, FormatTally>();
  try {
    for (const format of options.formats ?? FORMATS) {
      const tally: FormatTally = { cases: 0, ok: 0, refused: 0, failures: [], maxMs: 0, maxRssKb: 0 };
      tallies.set(format, tally);
      const cases = fuzzCases(inputs, format, options.cases, options.seed ?? 1729);
      let done = 0;
      const runOne = async (i: number) => {
        const c = cases[i]!;
        const dir = join(root, 'cases', `${format}-${i}`);
        const result: CaseResult = sandbox ? await sandbox.run(dir, c) : await runCaseProcess(dir, c);
        tally.cases++;
        tally.maxMs = Math.max(tally.maxMs, result.ms);
        tally.maxRssKb = Math.max(tally.maxRssKb, result.rssKb);
        if (result.kind === 'fail') tally.failures.push(`${format} ${c.label} [pulse ${c.argv.join(' ').slice(0, 200)}] (${dir}): ${result.why}`);
        else {
          tally[result.kind]++;
          removeCase(dir);
        }
        options.onCase?.(`${result.kind.padEnd(7)} ${(result.ms / 1000).toFixed(1)} s  ${format} ${c.label}: ${result.why.slice(0, 300)}`);
        options.progress?.(`${format} ${++done}/${options.cases}`);
      };
      // the sandbox is one process: its cases run one at a time; own processes run `jobs` at once
      let next = 0;
      const lane = async () => { while (next < cases.length) await runOne(next++); };
      await Promise.all(Array.from({ length: sandbox ? 1 : Math.max(1, options.jobs ?? 1) }, lane));
    }
  } finally {
    sandbox?.close();
  }
  const outside: string[] = [];
  const after = snapshot(inputs.dir);
  for (const [file, stamp] of before) if (after.get(file) !== stamp) outside.push(`input ${file} was changed or removed`);
  for (const file of after.keys()) if (!before.has(file)) outside.push(`input folder gained ${file}`);
  const stray = readdirSync(root).filter((e) => e !== 'inputs' && e !== 'cases');
  if (stray.length) outside.push(`the temp root gained ${stray.join(', ')}`);
  if (gitStatus() !== git) outside.push('the checkout changed (git status)');
  if (outside.length === 0 && [...tallies.values()].every((t) => t.failures.length === 0)) rmSync(root, { recursive: true, force: true });
  return { tallies, outside, root, seconds: (performance.now() - started) / 1000 };
}

/** The campaign as a Markdown table. */
export function fuzzTable(result: CampaignResult): string[] {
  const rows = [...result.tallies].map(([format, t]) => `| ${format} | ${t.cases} | ${t.ok} | ${t.refused} | ${t.failures.length} | ${(t.maxMs / 1000).toFixed(1)} s | ${(t.maxRssKb / 1024).toFixed(0)} MiB |`);
  return ['| format | cases | succeeded | refused with one `pulse:` line | failures | slowest | peak RSS |', '| --- | --- | --- | --- | --- | --- | --- |', ...rows];
}
