import { loadModel, specForPath } from '../model/registry.ts';
import type { ScoringMode } from '../model/model.ts';
import { loadProtocolData, loadQuestionFile } from '../data/protocol-data.ts';
import { evaluateModelOnSets, EVAL_SETS, type EvalSetName, type SetReport } from '../protocol/eval-model.ts';
import { scoreQuestions } from '../protocol/evaluate.ts';
import { setNumThreads, defaultThreads } from '../torch/index.ts';
import { PulseError } from '../errors.ts';
import { BASE_MODEL, cachePath } from '../paths.ts';

export type { SetReport };

export interface EvaluateInput {
  /** an embedded model file (.safetensors with a pulse manifest) or a Hugging Face LLaVA folder (default: the shipped base model) */
  model?: string;
  /** the model kind when the path does not tell (embedded, llava) */
  kind?: string;
  /** the world's sets (general, celebrities, fictitious) and data files (MLLMU-Bench .parquet, MMBench .tsv); default: the three sets */
  sets?: readonly string[];
  /** scoring mode (default: both) */
  mode?: ScoringMode | 'both';
  /** the generated world the model belongs to, generated there if missing (default: world-0 in the cache) */
  worldDir?: string;
  /** questions per forward pass (default: 256 for the embedded model, 8 for others) */
  batchSize?: number;
  /** CPU threads for libtorch (default: all cores) */
  threads?: number;
}

export interface Evaluation {
  model: { path: string; kind: string; name: string; defaultScoring: ScoringMode };
  /** accuracy by set (name or file) and modality, per scoring mode evaluated */
  scores: Partial<Record<ScoringMode, Record<string, SetReport>>>;
}

const isFile = (set: string) => set.endsWith('.parquet') || set.endsWith('.tsv');

/** Scores a model on multiple-choice sets: accuracy by set and modality (multimodal / text-only), as `pulse eval` prints. */
export async function evaluate(input: EvaluateInput = {}): Promise<Evaluation> {
  const path = input.model ?? BASE_MODEL;
  const worldDir = input.worldDir ?? cachePath('world-0');
  const requested = [...(input.sets ?? EVAL_SETS)];
  for (const s of requested) if (!isFile(s) && !(EVAL_SETS as readonly string[]).includes(s)) throw new PulseError(`unknown set '${s}' (sets: ${EVAL_SETS.join(', ')}, or a .parquet / .tsv file)`);
  setNumThreads(input.threads ?? defaultThreads());
  const sets = requested.filter((s) => !isFile(s)) as EvalSetName[];
  const files = requested.filter(isFile);
  const fileQuestions = await Promise.all(files.map(loadQuestionFile));
  const model = await loadModel(specForPath(path, input.kind));
  const { world, defaultScoring, kind, name } = model.info;
  const batchSize = input.batchSize ?? (kind === 'embedded' ? 256 : 8);
  const modes: ScoringMode[] = (input.mode ?? 'both') === 'both' ? ['likelihood', 'letter'] : [input.mode as ScoringMode];
  const scores: Evaluation['scores'] = {};
  try {
    // A model of no generated world (a LLaVA) is scored on the world's sets as on any data.
    const data = sets.length ? await loadProtocolData({ dir: worldDir, seed: world?.seed ?? 0 }) : null;
    if (data && world && data.world.hash !== world.hash) throw new PulseError(`${path} was trained on world ${world.hash}, but ${worldDir} holds world ${data.world.hash}`);
    for (const mode of modes) {
      const scored: Record<string, SetReport> = data ? await evaluateModelOnSets(model, data, sets, mode, batchSize) : {};
      for (const [i, f] of files.entries()) scored[f] = await scoreQuestions(model, fileQuestions[i]!, mode, batchSize);
      scores[mode] = scored;
    }
  } finally {
    model.dispose();
  }
  return { model: { path, kind, name, defaultScoring }, scores };
}
