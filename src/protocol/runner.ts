import { existsSync, mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { setNumThreads, defaultThreads, disposeAll, type Tensor } from '../torch/index.ts';
import { loadSafetensors, saveSafetensors } from '../torch/safetensors.ts';
import { loadModel } from '../model/persist.ts';
import { fileSha256, shortJsonHash } from '../hash.ts';
import { parseTarget, type MultimodalModel, type ScoringMode } from '../model/multimodal.ts';
import { getMethod } from '../unlearn/registry.ts';
import { unlearnRequest, DivergenceError, type UnlearnSettings } from '../unlearn/unlearn.ts';
import { relativeScores } from '../metrics/accuracy.ts';
import { deriveSeed, rng, shuffled } from '../random.ts';
import { PulseError } from '../errors.ts';
import { silentProgress, type ProgressFactory } from '../progress.ts';
import type { RunConfig } from './config.ts';
import { byId, questionsOf, type ProtocolData, type ProtocolQuestion } from './data.ts';
import { evaluateSets, scorePeople, type EvalSets } from './evaluate.ts';
import { ensureFineTuned } from './finetune.ts';
import { splitPeople, selectKnown, type Split } from './splits.ts';
import { Results, RESULTS_SCHEMA_VERSION, type MethodResult, type ScenarioName, type ScenarioResult } from './results-schema.ts';
import { lockRunDir, readJson, writeJsonAtomic } from './run-dir.ts';
import { writeFileAtomicSync } from '../atomic-file.ts';

export const PULSE_VERSION = '0.1.0';

export interface RunOptions {
  config: RunConfig;
  outDir: string;
  preset: string | null;
  /** where fine-tuned models are cached across runs */
  cacheDir: string;
  loadData: (config: RunConfig) => Promise<ProtocolData>;
  progress?: ProgressFactory;
  log?: (line: string) => void;
}

interface Phase { name: string; seconds: number }

/** The (method, update target) pairs a scenario runs: every method on the main target, plus the ablation on fine_tuned. */
function methodEntries(config: RunConfig, scenario: ScenarioName): { method: string; target: string }[] {
  const main = config.methods.map((method) => ({ method, target: config.update_target }));
  if (scenario !== 'fine_tuned' || !config.ablation) return main;
  const extra = config.ablation.targets.filter((t) => t !== config.update_target).map((target) => ({ method: config.ablation!.method, target }));
  return [...main, ...extra];
}

function settingsFor(config: RunConfig, method: string, target: string, seed: number): UnlearnSettings {
  const own = config.method_settings[method] ?? { hyperparameters: {} };
  const defaults = getMethod(method).defaults;
  const lora = own.lora === undefined ? config.unlearn.lora : own.lora;
  return {
    lr: own.lr ?? config.unlearn.lr,
    epochs: own.epochs ?? config.unlearn.epochs,
    batchSize: own.batch_size ?? config.unlearn.batch_size,
    clipNorm: own.clip_norm ?? config.unlearn.clip_norm,
    lora: lora ? { rank: lora.rank, alpha: lora.alpha, dropout: lora.dropout, layers: lora.layers } : null,
    target: parseTarget(target),
    hyperparameters: { ...defaults, ...(own.hyperparameters ?? {}) },
    seed,
  };
}

function hyperparameterRecord(s: UnlearnSettings): Record<string, number | string | boolean> {
  return { lr: s.lr, epochs: s.epochs, batch_size: s.batchSize, clip_norm: s.clipNorm, lora: s.lora ? `r${s.lora.rank}/a${s.lora.alpha}` : 'full', ...s.hyperparameters };
}

export function configHash(config: RunConfig): string {
  return shortJsonHash(config);
}

/**
 * Runs the protocol into outDir. Every finished request is written before the next starts
 * (model checkpoint first, then results.json, both atomic), and each request starts from a
 * saved state with its own derived seed, so running the same command again after an
 * interruption continues where it stopped and ends with the same numbers.
 */
export async function runProtocol(options: RunOptions): Promise<{ resultsPath: string; results: Results; phases: Phase[] }> {
  const { config } = options;
  const progress = options.progress ?? silentProgress;
  const log = options.log ?? (() => {});
  const outDir = resolve(options.outDir);
  const unlock = lockRunDir(outDir);
  const phases: Phase[] = [];
  const timed = async <T>(name: string, fn: () => Promise<T> | T): Promise<T> => {
    const t0 = performance.now();
    try { return await fn(); } finally { phases.push({ name, seconds: (performance.now() - t0) / 1000 }); }
  };
  let model: MultimodalModel | null = null;
  const startStates = new Map<string, Map<string, Tensor>>();
  try {
    setNumThreads(config.threads ?? defaultThreads());
    const resultsPath = join(outDir, 'results.json');
    const hash = configHash(config);
    const runInfoPath = join(outDir, 'run.json');
    if (existsSync(runInfoPath)) {
      const info = readJson(runInfoPath) as { config_hash?: string };
      if (info.config_hash !== hash) {
        throw new PulseError(`run folder ${outDir} holds a run with a different configuration (hash ${info.config_hash}, now ${hash}); use another --out, or delete the folder to start over`);
      }
      log(`resuming the run in ${outDir}`);
    } else {
      writeJsonAtomic(runInfoPath, { config_hash: hash, created_at: new Date().toISOString(), pulse_version: PULSE_VERSION });
      writeFileAtomicSync(join(outDir, 'config.yaml'), toYaml(config));
    }

    const data = await timed('load world', () => options.loadData(config));
    const modelPath = resolve(config.model.path);
    const base = await timed('load base model', () => loadModel(modelPath, { world: data.world }));
    model = base.model;
    const scoring: ScoringMode = config.scoring === 'model' ? base.manifest.scoring : config.scoring;
    const modelSha = fileSha256(modelPath);

    let results: Results;
    if (existsSync(resultsPath)) {
      const parsed = Results.safeParse(readJson(resultsPath));
      if (!parsed.success) throw new PulseError(`${resultsPath} does not match the results schema (${parsed.error.issues[0]!.path.join('.')}: ${parsed.error.issues[0]!.message}); delete the run folder to start over`);
      results = parsed.data;
      if (results.run.model.sha256 !== modelSha) throw new PulseError(`${outDir} was run with another base model (sha256 ${results.run.model.sha256.slice(0, 12)}), not ${modelPath}`);
    } else {
      results = {
        schema: 'pulse.results',
        version: RESULTS_SCHEMA_VERSION,
        run: {
          id: basename(outDir), created_at: new Date().toISOString(), finished_at: null, pulse_version: PULSE_VERSION, preset: options.preset,
          scoring, model: { name: basename(modelPath), path: config.model.path, sha256: modelSha },
          seeds: { master: config.seed, world: config.world.seed },
          config: config as unknown as Record<string, unknown>,
        },
        scenarios: [],
      };
    }
    const save = () => writeJsonAtomic(resultsPath, results);

    // The general benchmark subset scored after every request: a seeded, fixed choice.
    const general = config.eval.general_items === null || config.eval.general_items >= data.general.length
      ? data.general
      : shuffled(data.general, rng(deriveSeed(config.seed, 'general subset'))).slice(0, config.eval.general_items);

    const needsFineTuned = config.scenarios.some((s) => s !== 'pre_trained');
    const fineTuned = needsFineTuned
      ? await timed('fine-tune (or cache)', () => ensureFineTuned(modelPath, data, config, options.cacheDir, progress))
      : null;
    if (fineTuned) log(fineTuned.built ? `fine-tuned model built in ${fineTuned.seconds.toFixed(1)} s: ${fineTuned.path}` : `fine-tuned model from cache: ${fineTuned.path}`);

    const loadState = async (path: string) => (await loadSafetensors(path, { float32: true })).tensors;
    const startState = async (name: 'base' | 'fine_tuned'): Promise<Map<string, Tensor>> => {
      let state = startStates.get(name);
      if (!state) {
        state = await loadState(name === 'base' ? modelPath : fineTuned!.path);
        startStates.set(name, state);
      }
      return state;
    };

    for (const scenarioName of config.scenarios) {
      const m = model;
      let scenario = results.scenarios.find((s) => s.scenario === scenarioName);
      const startFrom = scenarioName === 'pre_trained' ? 'base' : 'fine_tuned';
      const start = await startState(startFrom);
      m.loadStateDict(start, { strict: false });

      let split: Split;
      let selection: ScenarioResult['selection'];
      let people;
      if (scenarioName === 'pre_trained') {
        people = data.celebrities;
        if (scenario) {
          split = scenario.splits;
          selection = scenario.selection;
        } else {
          log(`pre_trained: behaviour-based selection over ${data.celebrities.length} celebrities`);
          const scores = await timed('pre_trained: selection', () => scorePeople(m, data.celebrities, scoring, config.eval.batch_size));
          const kept = selectKnown(scores, config.pre_trained, config.seed);
          selection = { threshold: config.pre_trained.threshold, candidates: scores.length, kept };
          const needed = config.pre_trained.unlearn + config.pre_trained.retain;
          if (kept.length < needed) {
            scenario = { scenario: scenarioName, status: 'skipped', note: `behaviour-based selection kept ${kept.length} celebrities at a ${config.pre_trained.threshold}% threshold; ${needed} are needed`, update_target: config.update_target, splits: { unlearn: [], retain: [], requests: [] }, selection, before: null, methods: [] };
            results.scenarios.push(scenario);
            save();
            log(`pre_trained skipped: ${scenario.note}`);
            continue;
          }
          split = splitPeople(kept.map((k) => k.id), { unlearn: config.pre_trained.unlearn, retain: config.pre_trained.retain, requests: 1 }, config.seed, 'pre_trained');
        }
      } else {
        people = data.fictitious;
        const requests = scenarioName === 'sustainability' ? config.sustainability.requests : 1;
        split = splitPeople(fineTuned!.people, { ...config.fine_tuned, requests }, config.seed, 'fine_tuned');
      }
      if (scenario?.status === 'skipped') continue;

      const sets: EvalSets = {
        unlearn: questionsOf(byId(people, split.unlearn, scenarioName)),
        retain: questionsOf(byId(people, split.retain, scenarioName)),
        general: general as ProtocolQuestion[],
      };
      if (!scenario) {
        log(`${scenarioName}: scoring the starting model (${sets.unlearn.length + sets.retain.length + sets.general.length} questions)`);
        const before = await timed(`${scenarioName}: evaluate before`, () => evaluateSets(m, sets, scoring, config.eval.batch_size));
        scenario = {
          scenario: scenarioName, status: 'partial', update_target: config.update_target, splits: split,
          ...(selection ? { selection } : {}), before,
          methods: methodEntries(config, scenarioName).map(({ method, target }) => ({
            method, update_target: target, status: 'pending' as const, hyperparameters: hyperparameterRecord(settingsFor(config, method, target, 0)), requests: [],
          })),
        };
        results.scenarios.push(scenario);
        save();
      }
      const retainExamples = byId(people, split.retain, scenarioName).flatMap((p) => p.training);

      for (const entry of scenario.methods) {
        if (entry.status !== 'pending') continue;
        const method = getMethod(entry.method);
        const key = `${scenarioName}--${entry.method}--${entry.update_target.replace(/\+/g, '-')}`;
        const checkpoint = (k: number) => join(outDir, 'checkpoints', `${key}--r${k}.safetensors`);
        try {
          for (let k = entry.requests.length + 1; k <= split.requests.length; k++) {
            const t0 = performance.now();
            // Every request starts from a saved state, in an interrupted run and an uninterrupted one alike.
            if (k === 1) m.loadStateDict(start, { strict: false });
            else {
              const previous = await loadState(checkpoint(k - 1));
              m.loadStateDict(previous);
              disposeAll(previous);
            }
            const ids = split.requests[k - 1]!;
            const forget = byId(people, ids, scenarioName).flatMap((p) => p.training);
            const settings = settingsFor(config, entry.method, entry.update_target, deriveSeed(config.seed, key, k));
            const loss = unlearnRequest(m, method, forget, retainExamples, settings, progress, `${scenarioName} ${entry.method}${entry.update_target === scenario.update_target ? '' : ` [${entry.update_target}]`} ${k}/${split.requests.length}`);
            const after = evaluateSets(m, sets, scoring, config.eval.batch_size);
            mkdirSync(join(outDir, 'checkpoints'), { recursive: true });
            if (k < split.requests.length) await saveSafetensors(checkpoint(k), m.stateDict());
            entry.requests.push({ request: k, people: ids, after, relative: relativeScores(scenario.before!, after), loss: { first: loss.first, last: loss.last }, seconds: (performance.now() - t0) / 1000 });
            save();
            const f = (v: number | null) => (v === null ? '—' : v.toFixed(1));
            log(`${scenarioName} ${entry.method} [${entry.update_target}] request ${k}/${split.requests.length}: D_unlearn ${f(scenario.before!.unlearn.overall)} -> ${f(after.unlearn.overall)}, D_retain ${f(scenario.before!.retain.overall)} -> ${f(after.retain.overall)}, general ${f(scenario.before!.general.overall)} -> ${f(after.general.overall)}`);
            if (k > 1 && existsSync(checkpoint(k - 1))) unlinkSync(checkpoint(k - 1));
            phases.push({ name: `${scenarioName}: ${entry.method} [${entry.update_target}] request ${k}`, seconds: (performance.now() - t0) / 1000 });
          }
          entry.status = 'complete';
        } catch (error) {
          if (!(error instanceof DivergenceError)) throw error;
          entry.status = 'failed';
          entry.error = error.message;
          log(`${scenarioName} ${entry.method}: failed: ${error.message}`);
        }
        save();
      }
      scenario.status = scenario.methods.every((e: MethodResult) => e.status === 'complete') ? 'complete' : 'partial';
      save();
    }
    results.run.finished_at = new Date().toISOString();
    save();
    writeFileSync(join(outDir, 'phases.json'), `${JSON.stringify(phases, null, 2)}\n`);
    return { resultsPath, results, phases };
  } finally {
    for (const state of startStates.values()) disposeAll(state);
    model?.dispose();
    unlock();
  }
}
