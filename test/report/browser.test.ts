import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { writeReport } from '../../src/report/index.ts';
import { completeResults, writeRun } from './fixtures.ts';

const CHROMIUM = '/usr/bin/chromium';
const XSS = '<script>alert(1)</script>';

test('report.html in a real browser: every chart and table present, nothing fetched, data text escaped', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (scripts/setup.sh installs it)` }, async () => {
  // a method name like XSS is refused by the names rule (test/cli/bad-input.test.ts); free text still reaches the page
  const results = completeResults('browser');
  results.scenarios[0]!.splits.unlearn[0] = XSS;
  results.scenarios[1]!.methods[0]!.status = 'failed';
  results.scenarios[1]!.methods[0]!.error = `diverged on ${XSS}`;
  const dir = writeRun(results);
  const files = await writeReport(dir);
  // playwright gives the browser a fresh temporary profile of its own
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
    const requests: string[] = [];
    const dialogs: string[] = [];
    page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss(); });
    await page.route('**/*', (route) => {
      requests.push(route.request().url());
      return route.request().url() === pathToFileURL(files.html).href ? route.continue() : route.abort();
    });
    await page.goto(pathToFileURL(files.html).href);
    assert.deepEqual(requests, [pathToFileURL(files.html).href], 'the page loads nothing but itself');
    const charts = await page.$$eval('figure[data-chart] svg', (svgs) => svgs.map((s) => ({ marks: s.querySelectorAll('path, line, text').length, width: s.getBoundingClientRect().width })));
    assert.equal(charts.length, 8, 'two radars on top; trade-off charts for each scenario; lines and per-request charts for the sequence');
    for (const c of charts) assert.ok(c.marks > 10 && c.width > 100, `chart drawn: ${JSON.stringify(c)}`);
    const tables = await page.$$eval('section table', (ts) => ts.map((t) => t.querySelectorAll('tbody tr').length));
    assert.deepEqual(tables, [4, 3, 3]);
    assert.equal(await page.$$eval('script', (s) => s.length), 0, 'no script element came from data');
    assert.deepEqual(dialogs, []);
    const text = await page.textContent('body');
    assert.ok(text!.includes(`diverged on ${XSS}`));
    await page.screenshot({ path: join(dir, 'report.png'), fullPage: true });
    assert.ok(existsSync(join(dir, 'report.png')));
  } finally {
    await browser.close();
  }
});
