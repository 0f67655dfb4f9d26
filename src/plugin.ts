/**
 * What a plug-in (`pulse run --plugin FILE`) imports from pulse: the method interface and the
 * building blocks the built-in losses are made of. `import { ... } from 'pulse'`.
 */
export type { RequestContext, RequestState, StepInputs, StepTotals, UnlearningMethod } from './unlearn/method.ts';
export { klFromReference, referenceOf, refusalOf, retainOf, tokenAveragedNll } from './unlearn/method.ts';
export type { ModelBatch, PulseModel, ReferenceModel } from './model/model.ts';
export type { Tensor } from './torch/index.ts';
