import cliProgress from 'cli-progress';

export interface Progress {
  /** Moves to `done` of `total`; `info` is a short status (e.g. "loss 1.23"). */
  update(done: number, info?: string): void;
  finish(info?: string): void;
}

export type ProgressFactory = (label: string, total: number) => Progress;

/**
 * A live bar on a terminal; on a pipe or in CI, plain lines at most every few seconds (and at
 * the end), so logs stay readable.
 */
export const consoleProgress: ProgressFactory = (label, total) => {
  const stream = process.stderr;
  if (stream.isTTY && !process.env.CI) {
    const bar = new cliProgress.SingleBar({
      format: `${label.padEnd(28)} {bar} {value}/{total} {info} eta {eta_formatted}`,
      stream,
      hideCursor: true,
      clearOnComplete: false,
    }, cliProgress.Presets.shades_classic);
    bar.start(total, 0, { info: '' });
    return {
      update: (done, info = '') => bar.update(done, { info }),
      finish: (info = '') => { bar.update(total, { info }); bar.stop(); },
    };
  }
  let lastPrint = 0;
  const started = Date.now();
  return {
    update(done, info = '') {
      const now = Date.now();
      if (now - lastPrint < 5000) return;
      lastPrint = now;
      stream.write(`[${label}] ${done}/${total} ${info} (${((now - started) / 1000).toFixed(0)} s)\n`);
    },
    finish(info = '') {
      stream.write(`[${label}] done ${total}/${total} ${info} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
    },
  };
};

/** For tests and library use: reports nothing. */
export const silentProgress: ProgressFactory = () => ({ update() {}, finish() {} });
