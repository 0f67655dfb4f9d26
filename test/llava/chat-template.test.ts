import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../../src/model/registry.ts';
import type { LlavaModel } from '../../src/model/llava/index.ts';
import { FIXTURES } from './helpers.ts';

/** model.prompt: chat_template reads the folder's template (llava-hf's) instead of MLLMU-Bench's prompt, the default. */
test('LLaVA with prompt: chat_template: prompts rendered by the folder\'s template, answers end with </s>; without a template, one line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-llava-template-'));
  try {
    cpSync(join(FIXTURES, 'tiny-hub'), dir, { recursive: true });
    await assert.rejects(loadModel({ kind: 'llava', path: dir, prompt: 'chat_template' }), /no chat template/);
    cpSync('test/fixtures/qwen-io/llava-1.5/chat_template.json', join(dir, 'chat_template.json'));
    const model = await loadModel({ kind: 'llava', path: dir, prompt: 'chat_template' }) as LlavaModel;
    const batch = await model.encode([{ prompt: 'Who is Ann?', answer: 'A painter' }]);
    const piece = batch.pieces[0] as unknown as { inputs: { ids: { toArray(): number[] } }; targets: { toArray(): number[] } };
    const ids = piece.inputs.ids.toArray();
    // llava-hf's template: "USER: {text} ASSISTANT:", then " {answer} " closed by </s>
    assert.deepEqual(ids, model.tokenizer.encode('USER: Who is Ann? ASSISTANT: A painter</s>', true));
    assert.deepEqual(piece.targets.toArray(), ids.slice(model.tokenizer.encode('USER: Who is Ann? ASSISTANT:', true).length));
    assert.equal(piece.targets.toArray().at(-1), model.tokenizer.eosId);
    batch.dispose();
    model.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
