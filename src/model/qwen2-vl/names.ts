import { prefixLayout, type NameMap } from '../hf/weights.ts';

/**
 * Qwen2-VL's and Qwen2.5-VL's checkpoint names in pulse's layout: the Hub's files say
 * `visual.*`, `model.layers...` and `lm_head.weight`; transformers 5 writes `model.visual.*` and
 * `model.language_model.*`; pulse says `visual.*`, `language_model.*` and `lm_head.weight`.
 */
const HUB = prefixLayout('hub', [['model.', 'language_model.']]);
const TRANSFORMERS_5 = prefixLayout('transformers-5', [['model.language_model.', 'language_model.'], ['model.visual.', 'visual.']]);

export const QWEN_NAMES: NameMap = (names) => (names.some((n) => n.startsWith('model.language_model.')) ? TRANSFORMERS_5 : HUB);
