import { prefixLayout, type NameLayout, type NameMap } from '../hf/weights.ts';

/**
 * LLaVA's checkpoint names in pulse's layout, which is the checkpoint's with the wrappers removed:
 * the Hub's llava-hf files say `language_model.model.layers.0...` and
 * `language_model.lm_head.weight`; newer transformers write `model.language_model.layers.0...`
 * and `lm_head.weight`; transformers 5.6+ also drops CLIP's `vision_model.` level; pulse says
 * `language_model.layers.0...`, `lm_head.weight` and `vision_tower.vision_model.encoder...`.
 */
const HUB = prefixLayout('hub', [['language_model.model.', 'language_model.'], ['language_model.lm_head.', 'lm_head.']]);
const TRANSFORMERS_5 = prefixLayout('transformers-5', [
  ['model.language_model.', 'language_model.'], ['model.vision_tower.', 'vision_tower.'], ['model.multi_modal_projector.', 'multi_modal_projector.'],
]);

/** transformers 5.6+ dropped CLIP's `vision_model.` level (`vision_tower.embeddings...`): pulse keeps it. */
const FLAT_CLIP = /^vision_tower\.(?!vision_model\.)/;

function withClipLevel(layout: NameLayout): NameLayout {
  return { ...layout, toPulse: (name) => layout.toPulse(name).replace(FLAT_CLIP, 'vision_tower.vision_model.') };
}

export const LLAVA_NAMES: NameMap = (names) => withClipLevel(names.includes('language_model.model.embed_tokens.weight') ? HUB : TRANSFORMERS_5);
