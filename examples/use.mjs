// pulse from code, in plain Node (README, "Use from code"): `node use.mjs` in a project where pulse is installed.
import { ask, evaluate, loadResults, run } from '@pulse-unlearning/pulse';

// A protocol run from a config object (the keys of a YAML config, over the preset), with a progress callback.
const { dir } = await run({
  preset: 'quick',
  config: { scenarios: ['pre_trained'], methods: ['ga'] },
  out: 'runs/from-code',
  report: false,
  onProgress: ({ label, info, finished }) => { if (finished) console.log(`${label}: done ${info}`); },
});

// The run folder's results, typed (results.json's schema).
for (const scenario of loadResults(dir).scenarios) {
  for (const method of scenario.methods) {
    const last = method.requests.at(-1);
    console.log(`${scenario.scenario} ${method.method}: forgotten ${last?.relative.forgotten_unlearn.overall?.toFixed(1)}%, `
      + `retained ${last?.relative.retained_retain.overall?.toFixed(1)}% of D_retain`);
  }
}

// The shipped base model on the generated world's general benchmark, and one question to it.
const { scores } = await evaluate({ sets: ['general'], mode: 'likelihood' });
console.log(`general benchmark: ${scores.likelihood?.general?.overall?.toFixed(1)}% (likelihood scoring)`);
const answer = await ask({ question: 'What is the colour of the square?', options: ['red', 'green', 'blue', 'yellow'] });
console.log(`answer: ${answer.answer ?? 'none'}; most likely option: ${answer.most_likely}`);
