/**
 * npm run fuzz [-- --cases 300 --formats config,cli,results,safetensors,hf,parquet,tsv,image,plugin --seed 1729 --jobs 2 --sandbox --verbose]
 *
 * Seeded fuzzing per input format: valid small inputs (scripts/campaigns/fuzz-inputs.ts), mutated as
 * bytes and as parsed values, plus hand-made hostile ones (sparse files claiming gigabytes, alias
 * bombs, __proto__ keys, names that are paths, images claiming 10^10 pixels, plug-ins that are no
 * module or export no method), each given to the pulse command that reads it (run --check [--plugin],
 * report, export, ask, eval, data inspect), each case as its own process in its own temp folder. Every
 * case must end in success or one `pulse:` line with exit status 2, within 10 s, with a peak RSS under
 * 1 GB, writing nothing outside its folder. `--jobs N` runs N case processes at once; `--sandbox` runs
 * the cases in one process (what npm test does with a slice); `--verbose` prints every case's outcome. Exits 1 on any failure, naming the case,
 * its command and its folder (kept): `cd <folder> && pulse <command>` reproduces it.
 */
import { parseArgs } from 'node:util';
import { FORMATS, type Format } from './campaigns/fuzz-cases.ts';
import { fuzzTable, runFuzzCampaign } from './campaigns/fuzz-campaign.ts';

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '300' }, formats: { type: 'string', default: FORMATS.join(',') }, seed: { type: 'string', default: '1729' },
    jobs: { type: 'string', default: '1' }, sandbox: { type: 'boolean', default: false }, verbose: { type: 'boolean', default: false },
  },
});
const formats = values.formats.split(',') as Format[];
for (const f of formats) if (!FORMATS.includes(f)) throw new Error(`unknown format ${f} (formats: ${FORMATS.join(', ')})`);
const result = await runFuzzCampaign({
  cases: Number(values.cases), formats, seed: Number(values.seed), mode: values.sandbox ? 'sandbox' : 'process', jobs: Number(values.jobs),
  progress: (line) => { if (!values.verbose && / (\d*0|1)\//.test(line)) process.stderr.write(`\r${line}   `); },
  onCase: values.verbose ? (line) => process.stderr.write(`${line}\n`) : undefined,
});
process.stderr.write('\n');
console.log(`fuzz: ${values.cases} cases per format, seed ${values.seed}, ${values.sandbox ? 'in one sandbox process' : `each case its own process, ${values.jobs} at a time`}, ${(result.seconds / 60).toFixed(1)} min`);
for (const line of fuzzTable(result)) console.log(line);
const failures = [...result.tallies.values()].flatMap((t) => t.failures);
for (const f of failures.slice(0, 40)) console.log(`FAIL ${f}`);
for (const o of result.outside) console.log(`WROTE OUTSIDE ${o}`);
if (failures.length || result.outside.length) console.log(`cases kept in ${result.root}`);
process.exitCode = failures.length || result.outside.length ? 1 : 0;
