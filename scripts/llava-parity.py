#!/usr/bin/env python3
"""Python reference fixtures for pulse's LLaVA-1.5 support.

Builds a tiny, random, deterministic LLaVA-1.5 model (CLIP vision tower +
2-layer projector + Llama language model) with a tiny Llama/Vicuna-style
tokenizer, saves it twice (the Hub's llava-hf tensor names and the names
transformers 5 uses), and records what transformers computes on fixed inputs
so the TypeScript side can be checked against it.

How to run (from the repository root; CPU only, a few seconds once installed):

    python3 -m venv .venv-parity && \
      .venv-parity/bin/pip install torch transformers peft tokenizers pillow safetensors && \
      .venv-parity/bin/python scripts/llava-parity.py

Writes (default --out test/fixtures/llava):

    tiny-hub/   config.json, preprocessor_config.json, processor_config.json,
                tokenizer.json, tokenizer_config.json, special_tokens_map.json,
                model-0000{1,2}-of-00002.safetensors, model.safetensors.index.json
                (float16, llava-hf names: language_model.model.*, vision_tower.*, ...)
    tiny-new/   the same files and weights with transformers 5 names
                (model.language_model.*, model.vision_tower.*, lm_head.weight, ...)
    expected/   face.png, cases.safetensors, cases.json, lora.safetensors,
                lora-grads.safetensors
    README.md   what these are, the command and the versions used

Everything is seeded; running it again gives byte-identical files with the same
library versions (float results may differ in the last bits across versions).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import re
import shutil
import sys
import tempfile

import numpy as np
import torch

torch.set_num_threads(1)
torch.set_num_interop_threads(1)

import safetensors  # noqa: E402
import tokenizers  # noqa: E402
import transformers  # noqa: E402
from PIL import Image  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from tokenizers import AddedToken, Tokenizer, decoders, normalizers, pre_tokenizers, processors  # noqa: E402
from tokenizers.models import BPE  # noqa: E402
from tokenizers.trainers import BpeTrainer  # noqa: E402

SEED = 1234
BASE_VOCAB = 400  # <unk>,<s>,</s> + 256 byte tokens + trained pieces (Llama: 32000)
IMAGE_SIZE = 28
PATCH_SIZE = 14

IMAGE_PROMPT = (
    "USER: <image>\nWho is this person?\nA: Ann\nB: Bob\nC: Cy\nD: Di\n"
    "Just give ONE letter representing the answer directly.\nASSISTANT:"
)
TEXT_PROMPT = "USER: What is the capital of France?\nASSISTANT: Paris"
# Not asked for by name, but the image prompt ends with "ASSISTANT:" so its label
# rule leaves nothing to predict; this variant gives the image path a real loss.
IMAGE_ANSWER_PROMPT = IMAGE_PROMPT + " A"

LABEL_RULE = (
    "labels = input_ids; every position up to and including the last token of the last "
    "occurrence of the token sequence of 'ASSISTANT:' as it tokenizes at the start of a line "
    "(after <0x0A>, so without a leading '▁'; ids listed in tokenizer.assistant_ids) is set to -100, and so is every "
    "padding position (attention_mask 0). The loss is the model's own labels= loss: "
    "shift by one (logits[:, :-1] predict labels[:, 1:]), cross entropy in float32, mean "
    "over all unmasked targets of the whole batch. A case whose labels are all -100 has "
    "loss NaN (recorded as null)."
)


# --------------------------------------------------------------------------------------
# 1. Tokenizer
# --------------------------------------------------------------------------------------

def build_corpus(seed: int) -> list[str]:
    """A few hundred short English sentences in the prompts' style (no newlines, ASCII)."""
    rng = random.Random(seed)
    names = ["Ann", "Bob", "Cy", "Di", "Alice", "Marie Curie", "Albert Einstein", "Ada Lovelace",
             "Frida Kahlo", "Pablo Picasso", "Nelson Mandela", "Serena Williams", "Leo Tolstoy",
             "Taylor Swift", "Isaac Newton", "Jane Austen", "Charles Darwin", "Emma Watson"]
    jobs = ["actor", "singer", "writer", "painter", "doctor", "scientist", "teacher", "lawyer",
            "player", "poet", "chemist", "physicist", "engineer", "director", "dancer"]
    places = [("France", "Paris"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Germany", "Berlin"),
              ("Japan", "Tokyo"), ("Poland", "Warsaw"), ("Egypt", "Cairo"), ("Peru", "Lima"),
              ("Canada", "Ottawa"), ("Kenya", "Nairobi"), ("Chile", "Santiago"), ("India", "New Delhi")]
    questions = ["Who is this person?", "What is the occupation of {n}?", "Where was {n} born?",
                 "When was {n} born?", "What is {n} known for?", "Is this person {n}?",
                 "What is the capital of {c}?", "Which city is the capital of {c}?"]
    letters = "ABCD"
    out: list[str] = []
    for _ in range(120):
        n, job = rng.choice(names), rng.choice(jobs)
        c, cap = rng.choice(places)
        year = rng.randint(1800, 2020)
        q = rng.choice(questions).format(n=n, c=c)
        opts = rng.sample(names, 4)
        letter = rng.choice(letters)
        out.append(q)
        out.append(f"{n} is a {job}.")
        out.append(f"{n} was born in {year} in {cap}, {c}.")
        out.append(f"The capital of {c} is {cap}.")
        out.append(f"USER: {q} ASSISTANT: {n} is a {job}.")
        out.append(
            f"USER: Who is this person? A: {opts[0]} B: {opts[1]} C: {opts[2]} D: {opts[3]} "
            f"Just give ONE letter representing the answer directly. ASSISTANT: {letter}"
        )
        out.append(f"The answer is {letter}. There are {rng.randint(0, 99)} people and {rng.randint(0, 9)} cats.")
    out.append("0 1 2 3 4 5 6 7 8 9 A B C D E F")
    return out


def byte_token(b: int) -> str:
    return f"<0x{b:02X}>"


SPECIAL = ["<unk>", "<s>", "</s>"]


def added_token_json(id_: int, content: str) -> dict:
    return {"id": id_, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": True}


def build_tokenizer(corpus: list[str]) -> tuple[dict, int, int]:
    """Returns (tokenizer.json as a dict, id of <image>, id of <pad>)."""
    # Train BPE pieces word by word, as sentencepiece does: Metaspace splits on spaces
    # and prefixes words with "▁". The final tokenizer has no pre-tokenizer (as
    # Llama's tokenizer.json); the learnt merges never cross a "▁" boundary.
    trainer_tok = Tokenizer(BPE(unk_token="<unk>"))
    trainer_tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    trainer = BpeTrainer(vocab_size=BASE_VOCAB - 256, special_tokens=SPECIAL, min_frequency=2,
                         show_progress=False)
    trainer_tok.train_from_iterator(corpus, trainer=trainer)
    trained = json.loads(trainer_tok.to_str())["model"]
    trained_vocab = sorted(trained["vocab"].items(), key=lambda kv: kv[1])
    merges = [m if isinstance(m, str) else " ".join(m) for m in trained["merges"]]

    # Llama's layout: <unk>=0, <s>=1, </s>=2, <0x00>..<0xFF>=3..258, then the pieces.
    vocab: dict[str, int] = {}
    for t in SPECIAL + [byte_token(b) for b in range(256)]:
        vocab[t] = len(vocab)
    for t, _ in trained_vocab:
        if t not in vocab:
            vocab[t] = len(vocab)
    assert len(vocab) == BASE_VOCAB, f"trained vocabulary has {len(vocab)} tokens, wanted {BASE_VOCAB}"

    tok = Tokenizer(BPE(vocab=vocab, merges=[tuple(m.split(" ")) for m in merges], unk_token="<unk>",
                        fuse_unk=True, byte_fallback=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.pre_tokenizer = None
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    tok.post_processor = processors.TemplateProcessing(
        single="<s>:0 $A:0", pair="<s>:0 $A:0 <s>:1 $B:1", special_tokens=[("<s>", 1)])
    special = lambda s: AddedToken(s, single_word=False, lstrip=False, rstrip=False, normalized=False,
                                   special=True)
    tok.add_special_tokens([special(s) for s in SPECIAL])
    tok.add_special_tokens([special("<image>"), special("<pad>")])
    image_id, pad_id = tok.token_to_id("<image>"), tok.token_to_id("<pad>")
    assert (image_id, pad_id) == (BASE_VOCAB, BASE_VOCAB + 1)

    data = json.loads(tok.to_str())
    # Llama's tokenizer.json (as in llava-hf/llava-1.5-7b-hf) writes merges as "a b" strings.
    data["model"]["merges"] = merges
    data["added_tokens"] = [added_token_json(i, s) for i, s in enumerate(SPECIAL)] + [
        added_token_json(image_id, "<image>"), added_token_json(pad_id, "<pad>")]
    return data, image_id, pad_id


def tokenizer_side_files(image_id: int, pad_id: int, max_len: int) -> dict[str, dict]:
    added = {str(i): {k: v for k, v in added_token_json(i, s).items() if k != "id"}
             for i, s in list(enumerate(SPECIAL)) + [(image_id, "<image>"), (pad_id, "<pad>")]}
    tokenizer_config = {
        "add_bos_token": True,
        "add_eos_token": False,
        "added_tokens_decoder": added,
        "bos_token": "<s>",
        "clean_up_tokenization_spaces": False,
        "eos_token": "</s>",
        "legacy": False,
        "model_max_length": max_len,
        "pad_token": "<pad>",
        "padding_side": "left",
        "processor_class": "LlavaProcessor",
        "sp_model_kwargs": {},
        "tokenizer_class": "LlamaTokenizer",
        "trust_remote_code": False,
        "unk_token": "<unk>",
        "use_default_system_prompt": False,
    }
    tok_entry = lambda s: {"content": s, "lstrip": False, "normalized": False, "rstrip": False,
                           "single_word": False}
    special_tokens_map = {"bos_token": tok_entry("<s>"), "eos_token": tok_entry("</s>"),
                          "pad_token": tok_entry("<pad>"), "unk_token": tok_entry("<unk>")}
    return {"tokenizer_config.json": tokenizer_config, "special_tokens_map.json": special_tokens_map}


# --------------------------------------------------------------------------------------
# 2. Model config and weights
# --------------------------------------------------------------------------------------

def hub_config(image_id: int, pad_id: int, vocab_rows: int) -> dict:
    """config.json in llava-hf's style: sub-configs list only what differs from the defaults
    of transformers' LlamaConfig / CLIPVisionConfig (plus model_type), as the Hub's does."""
    text_config = {
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": 64,
        "intermediate_size": 128,
        "max_position_embeddings": 256,
        "model_type": "llama",
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "rms_norm_eps": 1e-05,
        "torch_dtype": "float16",
        "vocab_size": vocab_rows,
        # left to the defaults: num_key_value_heads (= num_attention_heads), hidden_act silu,
        # rope_theta 10000, attention_bias false, mlp_bias false, head_dim hidden/heads
    }
    vision_config = {
        "hidden_size": 32,
        "image_size": IMAGE_SIZE,
        "intermediate_size": 64,
        "model_type": "clip_vision_model",
        "num_attention_heads": 4,
        "num_hidden_layers": 3,
        "patch_size": PATCH_SIZE,
        "projection_dim": 768,  # unused by LLaVA; the real config carries it too
        # left to the defaults: hidden_act quick_gelu, layer_norm_eps 1e-5, num_channels 3
    }
    return {
        "architectures": ["LlavaForConditionalGeneration"],
        "ignore_index": -100,
        "image_seq_length": (IMAGE_SIZE // PATCH_SIZE) ** 2,
        "image_token_index": image_id,
        "model_type": "llava",
        "pad_token_id": pad_id,
        "projector_hidden_act": "gelu",
        "text_config": text_config,
        "tie_word_embeddings": False,
        "torch_dtype": "float16",
        "transformers_version": transformers.__version__,
        "vision_config": vision_config,
        "vision_feature_layer": -2,
        "vision_feature_select_strategy": "default",
        "vocab_size": vocab_rows,
    }


def preprocessor_config() -> dict:
    return {
        "crop_size": {"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        "do_center_crop": True,
        "do_convert_rgb": True,
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": True,
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_processor_type": "CLIPImageProcessor",
        "image_std": [0.26862954, 0.26130258, 0.27577711],
        "processor_class": "LlavaProcessor",
        "resample": 3,
        "rescale_factor": 0.00392156862745098,
        "size": {"shortest_edge": IMAGE_SIZE},
    }


def processor_config() -> dict:
    # As llava-hf's processor_config.json. transformers needs patch_size here to expand
    # <image> (LlavaProcessor.replace_image_token divides by it); the number of image
    # tokens is (28/14)^2 + num_additional_image_tokens(1) - 1 (strategy "default") = 4.
    return {
        "image_token": "<image>",
        "num_additional_image_tokens": 1,
        "patch_size": PATCH_SIZE,
        "processor_class": "LlavaProcessor",
        "vision_feature_select_strategy": "default",
    }


def init_weights(model: torch.nn.Module, seed: int) -> None:
    """Seeded random weights, large enough that logits differ visibly; then rounded to
    float16 and back so that float16 storage is exact."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            leaf = name.rsplit(".", 1)[-1]
            is_norm = re.search(r"(norm|layrnorm|layer_norm\d?)\.weight$", name) is not None
            if is_norm:
                v = 1.0 + 0.1 * torch.randn(p.shape, generator=g)
            elif leaf == "bias":
                v = 0.1 * torch.randn(p.shape, generator=g)
            else:
                v = 0.2 * torch.randn(p.shape, generator=g)
            p.copy_(v.half().float())


def new_to_hub_name(name: str) -> str:
    """transformers 5 in-memory parameter name -> llava-hf checkpoint name (tiny-hub)."""
    for new, hub in [("model.language_model.", "language_model.model."),
                     ("lm_head.", "language_model.lm_head."),
                     ("model.vision_tower.", "vision_tower.vision_model."),
                     ("model.multi_modal_projector.", "multi_modal_projector.")]:
        if name.startswith(new):
            return hub + name[len(new):]
    raise ValueError(f"unexpected parameter name {name}")


def new_to_saved_name(name: str) -> str:
    """transformers 5 in-memory parameter name -> the names newer checkpoints carry (tiny-new):
    model.language_model.*, lm_head.weight, model.multi_modal_projector.* and
    model.vision_tower.vision_model.* (transformers 5.x keeps CLIP's layers directly under
    model.vision_tower in memory; it strips 'vision_model.' when it loads)."""
    if name.startswith("model.vision_tower."):
        return "model.vision_tower.vision_model." + name[len("model.vision_tower."):]
    assert name.startswith(("model.language_model.", "lm_head.", "model.multi_modal_projector.")), name
    return name


def write_sharded(folder: str, tensors: dict[str, torch.Tensor]) -> None:
    """Two float16 shards split at half the bytes (sorted names) + model.safetensors.index.json."""
    names = sorted(tensors)
    total = sum(tensors[n].numel() * tensors[n].element_size() for n in names)
    shards: list[list[str]] = [[], []]
    running = 0
    for n in names:
        shards[0 if running < total // 2 else 1].append(n)
        running += tensors[n].numel() * tensors[n].element_size()
    weight_map = {}
    for i, shard in enumerate(shards):
        fname = f"model-{i + 1:05d}-of-00002.safetensors"
        save_file({n: tensors[n].contiguous() for n in shard}, os.path.join(folder, fname),
                  metadata={"format": "pt"})
        weight_map.update({n: fname for n in shard})
    write_json(os.path.join(folder, "model.safetensors.index.json"),
               {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))})


def write_json(path: str, obj) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


# --------------------------------------------------------------------------------------
# 4. Inputs
# --------------------------------------------------------------------------------------

def make_face_png(path: str) -> None:
    """40x30 RGB: gradients, a filled circle (the "face"), two eyes and a mouth bar."""
    w, h = 40, 30
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3), dtype=np.float64)
    img[..., 0] = 255 * x / (w - 1)
    img[..., 1] = 255 * y / (h - 1)
    img[..., 2] = 255 * (1 - x / (w - 1)) * (1 - y / (h - 1))
    face = (x - 20) ** 2 + (y - 15) ** 2 <= 11 ** 2
    img[face] = [230, 190, 150]
    for ex in (16, 24):
        img[(x - ex) ** 2 + (y - 12) ** 2 <= 2 ** 2] = [20, 40, 90]
    img[(np.abs(y - 20) <= 1) & (np.abs(x - 20) <= 5)] = [160, 30, 40]
    Image.fromarray(np.round(img).astype(np.uint8), "RGB").save(path, optimize=False)


def assistant_ids(tokenizer) -> list[int]:
    """Token ids of "ASSISTANT:" where the prompts have it: at the start of a line, so with no
    leading "▁" (tokenizing "ASSISTANT:" alone would give "▁ASSISTANT:" pieces)."""
    ids = tokenizer("\nASSISTANT:", add_special_tokens=False)["input_ids"]
    newline = tokenizer.convert_tokens_to_ids("<0x0A>")
    return ids[ids.index(newline) + 1:]


def make_labels(input_ids: torch.Tensor, attention_mask: torch.Tensor, marker: list[int]) -> torch.Tensor:
    labels = input_ids.clone()
    m = len(marker)
    for row in range(input_ids.shape[0]):
        ids = input_ids[row].tolist()
        ends = [i + m for i in range(len(ids) - m + 1) if ids[i:i + m] == marker]
        assert ends, f"'ASSISTANT:' not found in row {row}"
        labels[row, :ends[-1]] = -100
    labels[attention_mask == 0] = -100
    return labels


def load_model(folder: str):
    from transformers import LlavaForConditionalGeneration
    m = LlavaForConditionalGeneration.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager")
    return m.eval()


README = """# LLaVA-1.5 reference fixtures

Made by `scripts/llava-parity.py` (seed {seed}); do not edit by hand. To remake them, from the
repository root:

    python3 -m venv .venv-parity && \\
      .venv-parity/bin/pip install torch transformers peft tokenizers pillow safetensors && \\
      .venv-parity/bin/python scripts/llava-parity.py

Made with {versions_line}. Other versions may change floats in the last bits.

## tiny-hub/

A tiny random `LlavaForConditionalGeneration` laid out as llava-hf/llava-1.5-7b-hf is on the Hub:

- `config.json` in the Hub's style: `text_config` and `vision_config` list only what differs from
  transformers' `LlamaConfig` / `CLIPVisionConfig` defaults, so a loader must fill the rest in
  (`num_key_value_heads` = heads, `hidden_act` silu / quick_gelu, `rope_theta` 10000,
  CLIP `layer_norm_eps` 1e-5). Vision: CLIP, hidden 32, 3 layers, 4 heads, image 28, patch 14
  (4 patches + CLS). Text: Llama, hidden 64, 2 layers, 4 heads, MLP 128, rms_norm_eps 1e-5.
  `vision_feature_layer` -2, strategy `default`, projector gelu.
- float16 weights in two shards + `model.safetensors.index.json`, names
  `language_model.model.*`, `language_model.lm_head.weight`, `vision_tower.vision_model.*`,
  `multi_modal_projector.linear_{{1,2}}.*`.
- A tiny Llama/Vicuna-style tokenizer (`tokenizer.json`: BPE with byte_fallback, `<unk>`=0, `<s>`=1,
  `</s>`=2, `<0x00>`..`<0xFF>`=3..258, {base_vocab} base tokens, then `<image>`={image_id} and
  `<pad>`={pad_id} as added special tokens; embedding rows padded to {rows}),
  `tokenizer_config.json`, `special_tokens_map.json`.
- `preprocessor_config.json` (CLIPImageProcessor, 28x28) and `processor_config.json`
  (`patch_size` 14, `num_additional_image_tokens` 1: LlavaProcessor needs them to expand
  `<image>` into 4 image tokens).

## tiny-new/

The same files and the same weights under the names that transformers 4.52-4.57's
`save_pretrained` wrote (its in-memory names): `model.language_model.*`, `lm_head.weight`,
`model.vision_tower.vision_model.*`, `model.multi_modal_projector.*`. transformers loads both
folders to identical logits.

transformers {transformers} itself writes neither: its `save_pretrained` maps names back to the
llava-hf ones but keeps CLIP flat (`vision_tower.embeddings.*`, `vision_tower.encoder.*`, no
`vision_model.`), since 5.x keeps CLIP's modules directly under `model.vision_tower` in memory
(see `save_pretrained` in `expected/cases.json`).

## expected/

- `face.png`: the 40x30 RGB input image.
- `cases.safetensors`: for the cases `image`, `image_answer`, `text` and `batch` (left-padded
  `image` + `text`): `<case>.input_ids`, `.attention_mask`, `.labels` (int64), `.pixel_values`,
  `.logits` (float32, full [batch, seq, vocab]); and `image.vision_features` (CLIP layer -2
  without CLS), `image.projected` (after the projector).
- `cases.json`: prompts, token ids and tokens, the label rule, losses, tokenizer examples,
  special token ids, versions, checks (tiny-hub vs tiny-new logits, batch vs single rows).
- `lora.safetensors`: LoRA A/B (PEFT names; r 4, alpha 8, on the language model's
  q/k/v/o/gate/up/down projections only) and `lora-grads.safetensors`: their gradients for the
  `text` case loss, with `loss` and `logits`. `cases.json` `lora.modules` maps each to its module.

All from transformers in float32, eval mode, eager attention, weights upcast from the float16 files.

## Things to know

- Token ids are tokenizer.json applied as it is: its `Prepend("▁")` normalizer runs on each text
  segment between special tokens, so `<image>\\n` becomes `<image>`, `▁`, `<0x0A>` (as original
  LLaVA and transformers 4 do). AutoTokenizer/AutoProcessor give exactly that here (transformers 5
  loads a `llava` folder's tokenizer as `TokenizersBackend`), but `LlamaTokenizerFast.from_pretrained`
  rebuilds the pipeline (Metaspace, prepend "first", `legacy` false) and drops that `▁`.
- The `image` case ends with `ASSISTANT:`, so its label rule leaves no target: loss is null.
  `image_answer` (the same prompt + ` A`) gives the image path one target.
- CLIP layer -2 is `hidden_states[-2]`: the output of encoder layer 1 of 3 (hidden_states[0] is the
  embeddings after `pre_layrnorm`); encoder layer 2 and `post_layernorm` are never used.
- Pixel values come from the PIL backend (`CLIPImageProcessorPil`, bicubic).
"""


def write_readme(path: str, versions: dict, summary: dict) -> None:
    tok = summary["tokenizer"]
    with open(path, "w", encoding="utf-8") as f:
        f.write(README.format(
            seed=summary["seed"],
            versions_line=", ".join(f"{k} {v}" for k, v in versions.items()),
            base_vocab=tok["base_vocab"], image_id=tok["ids"]["<image>"], pad_id=tok["ids"]["<pad>"],
            rows=tok["embedding_rows"], transformers=versions["transformers"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="test/fixtures/llava", help="output folder (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=SEED, help="seed for weights and LoRA (default: %(default)s)")
    args = ap.parse_args()

    from peft import LoraConfig, get_peft_model
    from peft import __version__ as peft_version
    from transformers import (AutoProcessor, AutoTokenizer, CLIPVisionConfig, LlamaConfig, LlamaTokenizerFast,
                              LlavaConfig, LlavaForConditionalGeneration)

    transformers.utils.logging.disable_progress_bar()
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)

    out = args.out
    hub_dir, new_dir, exp_dir = (os.path.join(out, d) for d in ("tiny-hub", "tiny-new", "expected"))
    for d in (hub_dir, new_dir, exp_dir):
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)

    # ---- 1. tokenizer ---------------------------------------------------------------
    tok_json, image_id, pad_id = build_tokenizer(build_corpus(args.seed))
    vocab_rows = -(-(pad_id + 1) // 64) * 64  # padded up to a multiple of 64, like 32002 -> 32064
    cfg = hub_config(image_id, pad_id, vocab_rows)
    side_files = tokenizer_side_files(image_id, pad_id, cfg["text_config"]["max_position_embeddings"])
    for d in (hub_dir, new_dir):
        write_json(os.path.join(d, "tokenizer.json"), tok_json)
        for fname, obj in side_files.items():
            write_json(os.path.join(d, fname), obj)
        write_json(os.path.join(d, "config.json"), cfg)
        write_json(os.path.join(d, "preprocessor_config.json"), preprocessor_config())
        write_json(os.path.join(d, "processor_config.json"), processor_config())

    tokenizer = AutoTokenizer.from_pretrained(hub_dir)
    raw_tok = Tokenizer.from_file(os.path.join(hub_dir, "tokenizer.json"))
    assert len(tokenizer) == pad_id + 1, len(tokenizer)
    assert tokenizer.convert_tokens_to_ids(["<unk>", "<s>", "</s>", "<0x00>", "<0xFF>", "<image>", "<pad>"]) == \
        [0, 1, 2, 3, 258, image_id, pad_id]
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id, tokenizer.unk_token_id) == \
        (1, 2, pad_id, 0)
    assert tokenizer.padding_side == "left"
    # transformers 5 lists model_type "llava" among MODELS_WITH_INCORRECT_HUB_TOKENIZER_CLASS: with
    # config.json beside it, AutoTokenizer ignores tokenizer_class "LlamaTokenizer" and loads
    # tokenizer.json as it is (TokenizersBackend). LlamaTokenizer(Fast) itself rebuilds the pipeline.
    llama_tok = LlamaTokenizerFast.from_pretrained(hub_dir)
    assert len(llama_tok) == len(tokenizer)
    tok_examples = []
    for s in ["Who is this person?", "USER: What is the capital of France?\nASSISTANT: Paris",
              "USER: <image>\nWho", "café 日本 🙂", "  two  spaces", "ASSISTANT:", "A", " A", "Paris"]:
        hf_ids = tokenizer(s)["input_ids"]
        raw_ids = raw_tok.encode(s).ids
        llama_ids = llama_tok(s)["input_ids"]
        assert hf_ids == raw_ids, (s, hf_ids, raw_ids)
        tok_examples.append({"text": s, "ids": hf_ids, "tokens": tokenizer.convert_ids_to_tokens(hf_ids),
                             "decoded": tokenizer.decode(hf_ids, skip_special_tokens=True),
                             "llama_tokenizer_fast_ids": llama_ids,
                             "llama_tokenizer_fast_same": llama_ids == hf_ids})

    # ---- 2. model -------------------------------------------------------------------
    cfg_args = {k: v for k, v in json.loads(json.dumps(cfg)).items()
                if k not in ("architectures", "torch_dtype", "transformers_version")}
    # text_config's torch_dtype float16 would make transformers build the language model in float16
    cfg_args["text_config"].pop("torch_dtype")
    config = LlavaConfig(**cfg_args)
    config._attn_implementation = "eager"
    config.text_config._attn_implementation = "eager"
    config.vision_config._attn_implementation = "eager"
    # the loader must fill these defaults in: check that transformers did what we claim
    tc, vc = config.text_config, config.vision_config
    assert isinstance(tc, LlamaConfig) and isinstance(vc, CLIPVisionConfig)
    assert (tc.num_key_value_heads, tc.hidden_act, tc.rope_parameters["rope_theta"], tc.attention_bias,
            tc.mlp_bias, tc.head_dim, tc.tie_word_embeddings) == (4, "silu", 10000.0, False, False, 16, False)
    assert (vc.hidden_act, vc.layer_norm_eps, vc.num_channels) == ("quick_gelu", 1e-5, 3)
    model = LlavaForConditionalGeneration(config).float().eval()
    assert all(p.dtype == torch.float32 for p in model.parameters())
    init_weights(model, args.seed)
    state = {n: p.detach().clone() for n, p in model.state_dict().items()}
    # transformers 5 keeps no persistent buffers here (e.g. no CLIP position_ids)
    assert set(state) == {n for n, _ in model.named_parameters()}, set(state) ^ {n for n, _ in model.named_parameters()}

    # ---- 3. save twice --------------------------------------------------------------
    new_names = {new_to_saved_name(n): t.half() for n, t in state.items()}
    hub_names = {new_to_hub_name(n): t.half() for n, t in state.items()}
    write_sharded(hub_dir, hub_names)
    write_sharded(new_dir, new_names)

    # what save_pretrained in this transformers writes, for comparison
    with tempfile.TemporaryDirectory() as tmp:
        # on a copy: .half() would also round non-persistent float buffers (RoPE's inv_freq)
        # a separate model and config: .half() also rounds non-persistent float buffers (RoPE's
        # inv_freq) and records dtype in the (shared) config, which changes later float32 results
        twin = LlavaForConditionalGeneration(copy.deepcopy(config))
        twin.load_state_dict(state)
        twin.half().save_pretrained(tmp, max_shard_size="200KB")
        del twin
        sp_files = sorted(os.listdir(tmp))
        sp_names = set()
        for f in sp_files:
            if f.endswith(".safetensors"):
                sp_names |= set(load_file(os.path.join(tmp, f)))
        with open(os.path.join(tmp, "config.json")) as f:
            sp_config = json.load(f)
    # transformers 5 writes neither layout: it maps names back to llava-hf's (language_model.model.*,
    # language_model.lm_head.weight, multi_modal_projector.*) but keeps CLIP flat (vision_tower.* with
    # no vision_model.). Record that rather than copy it: tiny-hub/tiny-new are the layouts on the Hub.
    sp_expected = {new_to_hub_name(n).replace("vision_tower.vision_model.", "vision_tower.") for n in state}
    save_pretrained_info = {
        "transformers": transformers.__version__,
        "files": sp_files,
        "tensor_names_equal_tiny_hub": sp_names == set(hub_names),
        "tensor_names_equal_tiny_new": sp_names == set(new_names),
        "tensor_names_equal_tiny_hub_without_vision_model": sp_names == sp_expected,
        "example_names": sorted(n for n in sp_names if ".layers." not in n or ".layers.0." in n)[:12],
        "in_memory_example_names": sorted(n for n in state if ".layers." not in n or ".layers.0." in n)[:12],
        "config_dtype_key": "dtype" if "dtype" in sp_config else "torch_dtype",
        "text_config_keys": sorted(sp_config["text_config"]),
    }

    # ---- 4. expected outputs --------------------------------------------------------
    face_path = os.path.join(exp_dir, "face.png")
    make_face_png(face_path)
    image = Image.open(face_path).convert("RGB")
    # the PIL backend (the default without torchvision); pin it so that installing torchvision
    # does not silently switch to the torchvision resize
    processor = AutoProcessor.from_pretrained(hub_dir, backend="pil")
    assert type(processor.image_processor).__name__ == "CLIPImageProcessorPil", type(processor.image_processor)
    processor_info = {"class": type(processor).__name__,
                      "image_processor_class": type(processor.image_processor).__name__,
                      "tokenizer_class": type(processor.tokenizer).__name__,
                      "patch_size": processor.patch_size,
                      "num_additional_image_tokens": processor.num_additional_image_tokens}
    marker = assistant_ids(tokenizer)

    cases = {
        "image": dict(text=[IMAGE_PROMPT], images=[image]),
        "image_answer": dict(text=[IMAGE_ANSWER_PROMPT], images=[image]),
        "text": dict(text=[TEXT_PROMPT]),
        "batch": dict(text=[IMAGE_PROMPT, TEXT_PROMPT], images=[image]),
    }
    tensors: dict[str, torch.Tensor] = {}
    meta_cases = {}
    with torch.no_grad():
        for name, kw in cases.items():
            enc = processor(**kw, padding=True, return_tensors="pt")
            ids, mask = enc["input_ids"].long(), enc["attention_mask"].long()
            labels = make_labels(ids, mask, marker)
            fwd = dict(input_ids=ids, attention_mask=mask, labels=labels)
            if "pixel_values" in enc:
                fwd["pixel_values"] = enc["pixel_values"].float()
            res = model(**fwd)
            loss = res.loss.item()
            # the same loss by hand, to pin down the rule
            lg, lb = res.logits[:, :-1].reshape(-1, vocab_rows), labels[:, 1:].reshape(-1)
            by_hand = torch.nn.functional.cross_entropy(lg, lb, ignore_index=-100).item()
            assert (np.isnan(loss) and np.isnan(by_hand)) or abs(loss - by_hand) < 1e-6, (loss, by_hand)
            tensors[f"{name}.input_ids"] = ids
            tensors[f"{name}.attention_mask"] = mask
            tensors[f"{name}.labels"] = labels
            tensors[f"{name}.logits"] = res.logits.float()
            if "pixel_values" in fwd:
                tensors[f"{name}.pixel_values"] = fwd["pixel_values"]
            # tokenizer.json's own pipeline (tokenizers library) on the same expanded text
            expanded = [t.replace("<image>", "<image>" * 4) if "images" in kw else t for t in kw["text"]]
            raw_rows = [raw_tok.encode(t).ids for t in expanded]
            row_ids = [ids[r][mask[r].bool()].tolist() for r in range(ids.shape[0])]
            assert raw_rows == row_ids, (raw_rows, row_ids)
            choice = {}
            if name in ("image", "batch"):
                letters = {L: tokenizer(L, add_special_tokens=False)["input_ids"] for L in "ABCD"}
                row = 0
                last = res.logits[row, -1]
                choice = {L: {"ids": v, "logit_of_first": last[v[0]].item()} for L, v in letters.items()}
            meta_cases[name] = {
                "prompts": kw["text"],
                "image": "face.png" if "images" in kw else None,
                "shape": list(ids.shape),
                "token_count_per_row": mask.sum(1).tolist(),
                "input_ids": ids.tolist(),
                "tokens": [tokenizer.convert_ids_to_tokens(r) for r in ids.tolist()],
                "llama_tokenizer_fast_ids_per_row": [llama_tok(t)["input_ids"] for t in expanded],
                "target_count": int((labels[:, 1:] != -100).sum()),
                "loss": None if np.isnan(loss) else loss,
                "last_position_choice_logits_row0": choice or None,
            }

        # vision features for the float32 image case
        pv = tensors["image.pixel_values"]
        vt = model.model.vision_tower(pv, output_hidden_states=True)
        feats = vt.hidden_states[-2][:, 1:]
        projected = model.model.multi_modal_projector(feats)
        # transformers' own path: pooler_output is a list with one [tokens, hidden] per image
        via_api = model.model.get_image_features(pixel_values=pv, vision_feature_layer=-2,
                                                 vision_feature_select_strategy="default").pooler_output
        assert torch.equal(torch.stack(list(via_api)), projected)
        tensors["image.vision_features"] = feats.float()
        tensors["image.projected"] = projected.float()

    # batch vs single rows: left padding + mask should not change the result
    b_img = tensors["batch.logits"][0, -tensors["image.logits"].shape[1]:]
    b_txt = tensors["batch.logits"][1, -tensors["text.logits"].shape[1]:]
    batch_consistency = {
        "max_abs_batch_row0_vs_image": (b_img - tensors["image.logits"][0]).abs().max().item(),
        "max_abs_batch_row1_vs_text_unpadded_positions": (b_txt - tensors["text.logits"][0]).abs().max().item(),
    }

    # load both saved folders back
    reload = {}
    logits_by_folder = {}
    for label, folder in (("tiny-hub", hub_dir), ("tiny-new", new_dir)):
        m = load_model(folder)
        with torch.no_grad():
            for cname in ("image", "text", "batch"):
                fwd = {k: tensors[f"{cname}.{k}"] for k in ("input_ids", "attention_mask", "pixel_values")
                       if f"{cname}.{k}" in tensors}
                lg = m(**fwd).logits
                logits_by_folder[(label, cname)] = lg
                reload[f"{label}.{cname}.max_abs_vs_in_memory"] = (lg - tensors[f"{cname}.logits"]).abs().max().item()
        del m
    hub_vs_new = max((logits_by_folder[("tiny-hub", c)] - logits_by_folder[("tiny-new", c)]).abs().max().item()
                     for c in ("image", "text", "batch"))
    assert hub_vs_new == 0.0 and all(v == 0.0 for v in reload.values()), (hub_vs_new, reload)

    save_file(tensors, os.path.join(exp_dir, "cases.safetensors"), metadata={"format": "pt"})

    # ---- LoRA -----------------------------------------------------------------------
    lora_target = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
    lcfg = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=lora_target, bias="none")
    peft_model = get_peft_model(model, lcfg)
    peft_model.eval()
    g = torch.Generator().manual_seed(args.seed + 1)
    lora_modules = {}
    lora_tensors: dict[str, torch.Tensor] = {}
    params = dict(peft_model.named_parameters())
    for pname in sorted(n for n in params if ".lora_A." in n):
        mod = pname[: pname.index(".lora_A.")]
        a, b = params[pname], params[pname.replace(".lora_A.", ".lora_B.")]
        with torch.no_grad():
            a.copy_(0.1 * torch.randn(a.shape, generator=g))
            b.copy_(0.05 * torch.randn(b.shape, generator=g))
        key_a = pname.replace(".default.", ".")  # PEFT's adapter file names
        key_b = key_a.replace(".lora_A.", ".lora_B.")
        lora_tensors[key_a] = a.detach().clone()
        lora_tensors[key_b] = b.detach().clone()
        short = mod[len("base_model.model.model."):]
        lora_modules[short] = {"a": key_a, "a_shape": list(a.shape), "b": key_b, "b_shape": list(b.shape),
                               "peft_module": mod}
    assert len(lora_modules) == 2 * 7, sorted(lora_modules)
    assert not any("vision" in m for m in lora_modules)
    # same names as what PEFT's save_pretrained writes into adapter_model.safetensors
    from peft import get_peft_model_state_dict
    assert set(get_peft_model_state_dict(peft_model)) == set(lora_tensors)
    with tempfile.TemporaryDirectory() as tmp:
        peft_model.save_pretrained(tmp)
        assert set(load_file(os.path.join(tmp, "adapter_model.safetensors"))) == set(lora_tensors)
    save_file(lora_tensors, os.path.join(exp_dir, "lora.safetensors"), metadata={"format": "pt"})

    peft_model.zero_grad()
    fwd = {k: tensors[f"text.{k}"] for k in ("input_ids", "attention_mask", "labels")}
    res = peft_model(**fwd)
    res.loss.backward()
    lora_loss = res.loss.item()
    grads = {}
    for key_a in sorted(lora_tensors):
        pname = key_a.replace(".lora_A.weight", ".lora_A.default.weight").replace(
            ".lora_B.weight", ".lora_B.default.weight")
        grads[key_a] = params[pname].grad.detach().clone()
    grads["loss"] = res.loss.detach().reshape(())
    grads["logits"] = res.logits.detach().float()
    save_file(grads, os.path.join(exp_dir, "lora-grads.safetensors"), metadata={"format": "pt"})
    # the lora view must not have touched the base weights
    base_after = {n: p for n, p in peft_model.base_model.model.state_dict().items() if "lora_" not in n}
    base_after = {n.replace(".base_layer.", "."): p for n, p in base_after.items()}
    assert all(torch.equal(base_after[n], state[n]) for n in state)

    versions = {"python": sys.version.split()[0], "torch": torch.__version__,
                "transformers": transformers.__version__, "peft": peft_version,
                "tokenizers": tokenizers.__version__, "safetensors": safetensors.__version__,
                "numpy": np.__version__, "pillow": Image.__version__}
    summary = {
        "about": "Reference outputs of transformers' LlavaForConditionalGeneration (float32, eval, "
                 "attn_implementation eager) for the tiny model in ../tiny-hub and ../tiny-new. Made by "
                 "scripts/llava-parity.py.",
        "versions": versions,
        "seed": args.seed,
        "tokenizer": {
            "base_vocab": BASE_VOCAB, "tokenizer_size": len(tokenizer), "embedding_rows": vocab_rows,
            "ids": {"<unk>": 0, "<s>": 1, "</s>": 2, "<0x00>": 3, "<0xFF>": 258, "<image>": image_id,
                    "<pad>": pad_id},
            "merges": len(tok_json["model"]["merges"]),
            "assistant_ids": marker,
            "class_loaded_by_auto_tokenizer": type(tokenizer).__name__,
            "examples": tok_examples,
            "note": "ids = tokenizer.json applied as it is (tokenizers library; identical to what "
                    "AutoTokenizer/AutoProcessor give here, because transformers 5 treats model_type 'llava' "
                    "as having an incorrect Hub tokenizer_class and loads TokenizersBackend). The Prepend('▁') "
                    "normalizer runs on every text segment between special tokens, so text right after "
                    "<image> starts with a lone '▁' (as original LLaVA and transformers 4 do). "
                    "LlamaTokenizerFast.from_pretrained instead rebuilds the pipeline from vocab+merges with "
                    "Metaspace(prepend_scheme='first') since legacy=false, and drops that '▁': see "
                    "llama_tokenizer_fast_ids. All expected cases use the AutoProcessor ids.",
        },
        "processor": processor_info,
        "model": {
            "config": "../tiny-hub/config.json",
            "image_tokens_per_image": 4,
            "vision_feature_layer": -2,
            "note": "vision_feature_layer -2 means hidden_states[-2] of CLIP (hidden_states[0] is the "
                    "embeddings after pre_layrnorm, hidden_states[i] the output of encoder layer i-1), i.e. "
                    "the output of encoder layer 1 of 3 here; encoder layer 2 and post_layernorm are in the "
                    "checkpoint but never used. CLS (position 0) is dropped ('default').",
            "parameters": sum(p.numel() for p in state.values()),
        },
        "label_rule": LABEL_RULE,
        "cases": meta_cases,
        "tensors": {k: {"dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape)}
                    for k, v in sorted(tensors.items())},
        "batch_consistency": batch_consistency,
        "reload": {"max_abs_tiny_hub_vs_tiny_new_logits": hub_vs_new, **reload},
        "save_pretrained": save_pretrained_info,
        "lora": {
            "config": {"r": 4, "lora_alpha": 8, "scale": 8 / 4, "lora_dropout": 0.0, "bias": "none",
                       "target_modules": lora_target},
            "rule": "y = base(x) + scale * (x @ a.T) @ b.T with a [r, in], b [out, r]",
            "init": "a ~ 0.1*N(0,1), b ~ 0.05*N(0,1), torch.Generator seeded with seed+1, in sorted "
                    "parameter-name order (A then B per module)",
            "modules": lora_modules,
            "case": "text",
            "loss_with_lora": lora_loss,
            "loss_without_lora": meta_cases["text"]["loss"],
            "grads_file": "lora-grads.safetensors (same names as lora.safetensors; plus 'loss' and "
                          "'logits' with the adapters on)",
        },
    }
    write_json(os.path.join(exp_dir, "cases.json"), summary)
    write_readme(os.path.join(out, "README.md"), versions, summary)
    print(json.dumps({"losses": {k: v["loss"] for k, v in meta_cases.items()}, "lora_loss": lora_loss,
                      "tokens": {k: v["token_count_per_row"] for k, v in meta_cases.items()},
                      "hub_vs_new": hub_vs_new, "batch": batch_consistency}, indent=1))


if __name__ == "__main__":
    main()
