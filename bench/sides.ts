/** What the drivers of bench:llava and bench:qwen share: running one side in its own process and reading its JSON line. */
import { spawn, spawnSync, execFileSync } from 'node:child_process';

export interface SideResult { impl: string; step_ms: number[]; losses: number[]; tokens_per_step: number; peak_rss_mib: number; peak_gpu_mib: number | null; [k: string]: unknown }

/** One side, to its end: its last stdout line is its result. */
export function runSide(command: string, args: string[]): SideResult {
  const r = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${r.status}):\n${r.stderr.slice(-3000)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as SideResult;
}

/** One side on a GPU, with the device's memory in use (nvidia-smi) sampled every 100 ms while it runs. */
export async function runSideOnGpu(name: string, command: string, args: string[]): Promise<{ result: SideResult; peak: number; before: number }> {
  const used = () => Number(execFileSync('nvidia-smi', ['--query-gpu=memory.used', '--format=csv,noheader,nounits'], { encoding: 'utf8' }).split('\n')[0]);
  const before = used();
  let peak = before;
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  const timer = setInterval(() => { try { peak = Math.max(peak, used()); } catch { /* nvidia-smi busy */ } }, 100);
  const code = await new Promise<number | null>((done) => child.on('close', done));
  clearInterval(timer);
  if (code !== 0) throw new Error(`${name} side failed (${code})`);
  return { result: JSON.parse(stdout.trim().split('\n').pop()!) as SideResult, peak, before };
}

export const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2; };
export const f1 = (x: number) => x.toFixed(1);

export interface Side { name: string; run: () => SideResult }

/** Runs every side `rounds` times, each round starting one side later (no side always goes first), printing each run. */
export function runRounds(sides: readonly Side[], rounds: number): Map<string, SideResult[]> {
  const results = new Map<string, SideResult[]>(sides.map((s) => [s.name, []]));
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < sides.length; k++) {
      const side = sides[(r + k) % sides.length]!;
      const result = side.run();
      results.get(side.name)!.push(result);
      const losses = result.losses.map((l) => l.toFixed(5)).join(' ');
      console.log(`round ${r + 1} ${side.name.padEnd(8)} ${result.step_ms.map(f1).join(' / ')} ms/step, losses ${losses}, peak RSS ${f1(result.peak_rss_mib)} MiB`);
    }
  }
  return results;
}

/** Per side: the median step time over rounds (each round's own median), tokens/s, the median peak RSS, the first round's losses. */
export function summarise(results: Map<string, SideResult[]>) {
  return [...results].map(([name, runs]) => {
    const ms = median(runs.map((r) => median(r.step_ms)));
    return { name, ms, tokensPerS: (runs[0]!.tokens_per_step / ms) * 1000, rss: median(runs.map((r) => r.peak_rss_mib)), losses: runs[0]!.losses };
  });
}
