/**
 * pulse as a library: `import { run, loadResults, evaluate, ask } from '@pulse-unlearning/pulse'` (README, "Use from
 * code"), and what a plug-in's unlearning method is made of (src/plugin.ts). Importing it loads the libtorch addon.
 */
export * from './plugin.ts';
export { run, type RunInput, type RunSummary, type ProgressEvent, type Executor } from './api/run.ts';
export { loadResults } from './api/results.ts';
export { evaluate, type EvaluateInput, type Evaluation, type SetReport } from './api/evaluate.ts';
export { ask, type AskInput, type Answer } from './api/ask.ts';
export type { Results, ScenarioResult, MethodResult, RequestResult, TrajectoryPoint } from './protocol/results-schema.ts';
export type { Summary, SummaryCell, Stat } from './protocol/summary-schema.ts';
export type { RunConfig, PresetName } from './protocol/config.ts';
export type { PluginRecord } from './unlearn/plugins.ts';
export type { ReportFiles } from './report/index.ts';
export type { Letter } from './text/multiple-choice.ts';
export type { ScoringMode } from './model/model.ts';
export { PULSE_VERSION } from './version.ts';
