#!/usr/bin/env python3
"""Python reference fixtures for pulse's Qwen2-VL and Qwen2.5-VL support.

Builds two tiny, random, deterministic models with transformers -- a Qwen2.5-VL (RMSNorm vision
tower with window attention and full attention in `fullatt_block_indexes`, SwiGLU MLP, RMSNorm
patch merger; tied lm_head, as the 3B model) and a Qwen2-VL (LayerNorm tower with full attention,
QuickGELU MLP, LayerNorm merger; untied lm_head) -- with a tiny byte-level BPE tokenizer in the
Qwen2 layout (Qwen's pre-tokenizer regex, the Qwen2-VL special tokens by content, a vocabulary
smaller than the embedding), and records what transformers computes on fixed inputs so that the
TypeScript side can be checked against it.

How to run (from the repository root; CPU only, about ten seconds):

    /work/venv-ref/bin/python scripts/qwen-parity.py

(or any venv with torch, transformers 5, peft, tokenizers, pillow and safetensors).

Writes (default --out test/fixtures/qwen):

    qwen2.5-vl-hub/  config.json as the Hub writes it (text fields at the top level,
                     rope_scaling {type: mrope, mrope_section}, a vision_config that leaves fields
                     to transformers' defaults), the Hub's tensor names (visual.*, model.*; no
                     lm_head.weight: tied), bfloat16 in two shards + model.safetensors.index.json,
                     preprocessor_config.json, tokenizer.json, tokenizer_config.json, chat_template.json
    qwen2.5-vl-new/  the same model as transformers 5 writes it: nested text_config and
                     rope_parameters, model.visual.* / model.language_model.* names, float32 in one
                     model.safetensors; the chat template in tokenizer_config.json
    qwen2-vl-hub/    the Qwen2-VL, Hub layout, float16 in two shards, lm_head.weight untied
    expected/        images (PNG), <model>.safetensors and <model>.json: per case input_ids,
                     attention_mask, mm_token_type_ids, pixel_values, image_grid_thw, position_ids
                     (get_rope_index), labels, logits (loss only for `train`); vision features; LoRA factors (PEFT, r 4 on
                     the language model's seven projections) and their gradients, with the merger's and
                     the patch embedding's gradients (a full update through the tower)
    README.md        what these are, the command and the versions used

Everything is seeded; running it again gives byte-identical files with the same library versions.
"""

from __future__ import annotations

import argparse
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
from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors  # noqa: E402
from tokenizers.models import BPE  # noqa: E402
from tokenizers.trainers import BpeTrainer  # noqa: E402
from transformers import (  # noqa: E402
    AutoConfig, PreTrainedTokenizerFast, Qwen2_5_VLForConditionalGeneration, Qwen2VLForConditionalGeneration,
)
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil  # noqa: E402

SEED = 4321
BASE_VOCAB = 400  # 256 byte tokens + trained merges (Qwen2: 151,643)
EMBEDDING_ROWS = 416  # the model's vocabulary is larger than the tokenizer's, as Qwen's (152,064 rows)
PATCH = 4
MERGE = 2
TEMPORAL = 2
WINDOW = 16  # pixels: 16 / 2 / 4 = 2 merged units a window side
MIN_PIXELS = 8 * 8 * 4
MAX_PIXELS = 32 * 32

# Qwen2's pre-tokenizer (tokenizer.json of Qwen/Qwen2-VL-7B-Instruct)
QWEN_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
# Qwen2-VL's added tokens, in the Hub's order (151643..151656 there)
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
           "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
           "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]

# Qwen/Qwen2-VL-7B-Instruct's and Qwen/Qwen2.5-VL-7B-Instruct's chat template (chat_template.json)
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n{% else %}"
    "{% for content in message['content'] %}{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}"
    "<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

LETTER_QUESTION = ("Who is this person?\nA: Ann\nB: Bob\nC: Cy\nD: Di\n"
                   "Just give ONE letter representing the answer directly.")

# images: name -> (width, height); resized to multiples of PATCH * MERGE within MIN/MAX_PIXELS
IMAGES = {"landscape": (48, 32), "portrait": (24, 40), "large": (64, 60), "small": (13, 9)}

LM_LAYERS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


# --------------------------------------------------------------------------------------
# 1. Tokenizer
# --------------------------------------------------------------------------------------

def build_corpus(seed: int) -> list[str]:
    rng = random.Random(seed)
    names = ["Ann", "Bob", "Cy", "Di", "Marie Curie", "Ada Lovelace", "Nelson Mandela", "Jane Austen"]
    jobs = ["actor", "singer", "writer", "painter", "doctor", "scientist", "teacher"]
    out = []
    for _ in range(80):
        n, job = rng.choice(names), rng.choice(jobs)
        out += [f"{n} is a {job}.", f"Who is this person? {n}.", f"What is the occupation of {n}?",
                f"The answer is {rng.choice('ABCD')}.", "Just give ONE letter representing the answer directly.",
                "You are a helpful assistant.", "system user assistant", f"{n} was born in {rng.randint(1800, 2020)}."]
    return out


def build_tokenizer(corpus: list[str]) -> dict:
    """tokenizer.json as a dict: byte-level BPE with Qwen2's pre-tokenizer, then SPECIAL as added tokens."""
    tok = Tokenizer(BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False, trim_offsets=False),
    ])
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tok.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    trainer = BpeTrainer(vocab_size=BASE_VOCAB, min_frequency=2, show_progress=False,
                         initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    tok.train_from_iterator(corpus, trainer=trainer)
    assert tok.get_vocab_size() == BASE_VOCAB, tok.get_vocab_size()
    tok.add_special_tokens([AddedToken(s, single_word=False, lstrip=False, rstrip=False, normalized=False, special=True)
                            for s in SPECIAL])
    data = json.loads(tok.to_str())
    assert [t["id"] for t in data["added_tokens"]] == list(range(BASE_VOCAB, BASE_VOCAB + len(SPECIAL)))
    return data


def tokenizer_config(template_here: bool) -> dict:
    added = {str(BASE_VOCAB + i): {"content": s, "lstrip": False, "normalized": False, "rstrip": False,
                                   "single_word": False, "special": True} for i, s in enumerate(SPECIAL)}
    config = {
        "add_prefix_space": False, "added_tokens_decoder": added, "additional_special_tokens": SPECIAL[1:],
        "bos_token": None, "clean_up_tokenization_spaces": False, "eos_token": "<|im_end|>", "errors": "replace",
        "model_max_length": 32768, "pad_token": "<|endoftext|>", "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer", "unk_token": None,
    }
    if template_here:
        config["chat_template"] = CHAT_TEMPLATE
    return config


def special_id(name: str) -> int:
    return BASE_VOCAB + SPECIAL.index(name)


# --------------------------------------------------------------------------------------
# 2. Configs as the Hub writes them
# --------------------------------------------------------------------------------------

def common_top(arch: str, model_type: str, dtype: str, tied: bool) -> dict:
    return {
        "architectures": [arch], "model_type": model_type, "torch_dtype": dtype,
        "attention_dropout": 0.0, "bos_token_id": special_id("<|endoftext|>"), "eos_token_id": special_id("<|im_end|>"),
        "vision_start_token_id": special_id("<|vision_start|>"), "vision_end_token_id": special_id("<|vision_end|>"),
        "vision_token_id": special_id("<|vision_pad|>"), "image_token_id": special_id("<|image_pad|>"),
        "video_token_id": special_id("<|video_pad|>"), "hidden_act": "silu", "initializer_range": 0.02,
        "max_position_embeddings": 4096, "max_window_layers": 2, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
        "sliding_window": 4096, "tie_word_embeddings": tied, "use_cache": True, "use_sliding_window": False,
        "vocab_size": EMBEDDING_ROWS, "transformers_version": "4.41.2",
    }


def qwen25_hub_config() -> dict:
    return {
        **common_top("Qwen2_5_VLForConditionalGeneration", "qwen2_5_vl", "bfloat16", True),
        "hidden_size": 48, "intermediate_size": 96, "num_attention_heads": 4, "num_hidden_layers": 2,
        "num_key_value_heads": 2,
        # head_dim 12: 6 rotary frequencies, split temporal / height / width
        "rope_scaling": {"type": "mrope", "mrope_section": [1, 2, 3]},
        "vision_config": {
            # as the Hub's: in_chans and spatial_patch_size are not read by transformers (in_channels, patch_size are)
            "depth": 3, "hidden_act": "silu", "hidden_size": 32, "intermediate_size": 48, "num_heads": 4,
            "in_chans": 3, "out_hidden_size": 48, "patch_size": PATCH, "spatial_merge_size": MERGE,
            "spatial_patch_size": PATCH, "window_size": WINDOW, "fullatt_block_indexes": [1],
            "tokens_per_second": 2, "temporal_patch_size": TEMPORAL,
        },
    }


def qwen2_hub_config() -> dict:
    return {
        **common_top("Qwen2VLForConditionalGeneration", "qwen2_vl", "float16", False),
        "hidden_size": 40, "intermediate_size": 72, "num_attention_heads": 4, "num_hidden_layers": 2,
        "num_key_value_heads": 1,
        # head_dim 10: 5 rotary frequencies
        "rope_scaling": {"type": "mrope", "mrope_section": [1, 1, 3]},
        "vision_config": {
            "depth": 2, "embed_dim": 24, "mlp_ratio": 2, "num_heads": 3, "in_chans": 3, "hidden_size": 40,
            "patch_size": PATCH, "spatial_merge_size": MERGE, "spatial_patch_size": PATCH,
            "temporal_patch_size": TEMPORAL,
        },
    }


def preprocessor_config() -> dict:
    return {
        "min_pixels": MIN_PIXELS, "max_pixels": MAX_PIXELS, "patch_size": PATCH, "temporal_patch_size": TEMPORAL,
        "merge_size": MERGE, "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711], "image_processor_type": "Qwen2VLImageProcessor",
        "processor_class": "Qwen2_5_VLProcessor",
    }


# --------------------------------------------------------------------------------------
# 3. Weights
# --------------------------------------------------------------------------------------

def init_weights(model: torch.nn.Module, seed: int, dtype: torch.dtype) -> None:
    """Seeded weights, large enough that logits differ visibly, rounded to `dtype` so that storing them in it is exact."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            if re.search(r"(norm\d?|ln_q)\.weight$", name):
                v = 1.0 + 0.1 * torch.randn(p.shape, generator=g)
            elif name.endswith(".bias"):
                v = 0.1 * torch.randn(p.shape, generator=g)
            else:
                v = 0.2 * torch.randn(p.shape, generator=g)
            p.copy_(v.to(dtype).float())


def hub_name(name: str) -> str:
    """transformers 5's in-memory name -> the Hub's (Qwen/Qwen2.5-VL-*, Qwen/Qwen2-VL-*)."""
    for new, hub in (("model.visual.", "visual."), ("model.language_model.", "model."), ("lm_head.", "lm_head.")):
        if name.startswith(new):
            return hub + name[len(new):]
    raise ValueError(name)


def write_shards(folder: str, tensors: dict[str, torch.Tensor], split: bool) -> None:
    names = sorted(tensors)
    if not split:
        save_file({n: tensors[n].contiguous() for n in names}, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
        return
    first = [n for n in names if n.startswith("visual.") or ".layers.0." in n or n.endswith("embed_tokens.weight")]
    parts = {"model-00001-of-00002.safetensors": first,
             "model-00002-of-00002.safetensors": [n for n in names if n not in first]}
    weight_map = {}
    for file, part in parts.items():
        save_file({n: tensors[n].contiguous() for n in part}, os.path.join(folder, file), metadata={"format": "pt"})
        weight_map.update({n: file for n in part})
    size = sum(t.numel() * t.element_size() for t in tensors.values())
    write_json(os.path.join(folder, "model.safetensors.index.json"),
               {"metadata": {"total_size": size}, "weight_map": dict(sorted(weight_map.items()))})


def write_json(path: str, value) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, ensure_ascii=False)
        f.write("\n")


# --------------------------------------------------------------------------------------
# 4. Inputs: images, prompts, the processor's expansion
# --------------------------------------------------------------------------------------

def make_image(name: str, size: tuple[int, int], seed: int) -> Image.Image:
    w, h = size
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / max(w - 1, 1), y * 255 / max(h - 1, 1), (x + y) * 127 / max(w + h - 2, 1)], -1)
    noise = rng.integers(-40, 41, size=(h, w, 3))
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8), "RGB")


class Inputs:
    """What Qwen2_5_VLProcessor gives for rows of (messages, answer, image), right-padded, done by hand (its
    video processor needs torchvision): the template rendered by the tokenizer's apply_chat_template, each
    <|image_pad|> repeated grid.prod() / merge² times, mm_token_type_ids 1 on image pads."""

    def __init__(self, tokenizer, image_processor, images: dict[str, Image.Image]):
        self.tok, self.ip, self.images = tokenizer, image_processor, images

    def prompt(self, text: str, image: str | None) -> str:
        content = ([{"type": "image"}] if image else []) + [{"type": "text", "text": text}]
        return self.tok.apply_chat_template([{"role": "user", "content": content}], tokenize=False, add_generation_prompt=True,
                                            chat_template=CHAT_TEMPLATE)

    def rows(self, rows: list[tuple[str, str | None, str | None]]) -> dict:
        pad = self.tok.convert_tokens_to_ids("<|image_pad|>")
        ids, labels, pixel_values, grids, prompts = [], [], [], [], []
        for text, image, answer in rows:
            prompt = self.prompt(text, image)
            prompts.append(prompt + (answer + "<|im_end|>" if answer is not None else ""))
            row = self.tok(prompts[-1], add_special_tokens=False)["input_ids"]
            scored = len(self.tok(answer + "<|im_end|>", add_special_tokens=False)["input_ids"]) if answer is not None else 0
            if image:
                out = self.ip(images=[self.images[image]], return_tensors="pt")
                grid = out["image_grid_thw"][0]
                pixel_values.append(out["pixel_values"])
                grids.append(grid)
                count = int(grid.prod()) // MERGE ** 2
                at = row.index(pad)
                row = row[:at] + [pad] * count + row[at + 1:]
            ids.append(row)
            labels.append([-100] * (len(row) - scored) + row[len(row) - scored:])
        length = max(len(r) for r in ids)
        pad_id = self.tok.pad_token_id
        out = {
            "input_ids": torch.tensor([r + [pad_id] * (length - len(r)) for r in ids]),
            "attention_mask": torch.tensor([[1] * len(r) + [0] * (length - len(r)) for r in ids]),
            "labels": torch.tensor([r + [-100] * (length - len(r)) for r in labels]),
        }
        out["mm_token_type_ids"] = (out["input_ids"] == pad).int()
        if pixel_values:
            out["pixel_values"] = torch.cat(pixel_values)
            out["image_grid_thw"] = torch.stack(grids)
        return out, prompts


CASES = {
    # one row: a landscape image, the letter prompt
    "image": [(LETTER_QUESTION, "landscape", None)],
    # right-padded rows of other sizes: portrait, text only, a large image resized down, a small one resized up
    "batch": [("Who is this?", "portrait", None), ("Who is Ann?", None, None),
              ("Who is this person?", "large", None), ("Who is this?", "small", None)],
    # training rows: answers scored (their tokens and <|im_end|>)
    "train": [("Who is this person?", "landscape", "Marie Curie"), ("What is the occupation of Ann?", None, "A writer."),
              (LETTER_QUESTION, "portrait", "B")],
}


# --------------------------------------------------------------------------------------
# 5. Reference outputs
# --------------------------------------------------------------------------------------

def shifted_loss(logits: torch.Tensor, labels: torch.Tensor) -> float:
    v = logits.shape[-1]
    return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, v).float(), labels[:, 1:].reshape(-1)).item()


def run_model(model, batch: dict) -> dict:
    model.eval()
    inner = model.model
    with torch.no_grad():
        position_ids, deltas = inner.get_rope_index(batch["input_ids"], batch["mm_token_type_ids"], batch.get("image_grid_thw"),
                                                   attention_mask=batch["attention_mask"])
        res = model(**batch)
    return {"position_ids": position_ids, "rope_deltas": deltas.reshape(-1), "logits": res.logits.float(), "loss": res.loss.item()}


def record(prefix: str, batch: dict, result: dict, tensors: dict, logits: bool) -> None:
    kept = ("position_ids", "rope_deltas", "logits") if logits else ("position_ids", "rope_deltas")
    for k, v in {**batch, **{k: result[k] for k in kept}}.items():
        tensors[f"{prefix}.{k}"] = v.float() if v.is_floating_point() else v.long()


def lora_reference(model, batch: dict, seed: int, tensors: dict) -> dict:
    """PEFT LoRA r 4 on the language model's seven projections, random A and B; the merger and the patch
    embedding also train in full; gradients of the `train` case's loss."""
    from peft import LoraConfig, get_peft_model
    target = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=target, bias="none"))
    peft_model.eval()
    g = torch.Generator().manual_seed(seed)
    params = dict(peft_model.named_parameters())
    modules = {}
    for name in sorted(n for n in params if ".lora_A." in n):
        a, b = params[name], params[name.replace(".lora_A.", ".lora_B.")]
        with torch.no_grad():
            a.copy_(0.1 * torch.randn(a.shape, generator=g))
            b.copy_(0.05 * torch.randn(b.shape, generator=g))
        mod = name[: name.index(".lora_A.")]
        short = mod[mod.index("language_model.") + len("language_model."):]
        modules[f"language_model.{short}"] = {"a": f"lora.{short}.a", "b": f"lora.{short}.b"}
        tensors[f"lora.{short}.a"] = a.detach().clone()
        tensors[f"lora.{short}.b"] = b.detach().clone()
    assert len(modules) == 7 * 2, sorted(modules)
    assert not any("visual" in m for m in modules)
    full = {"visual.merger.mlp.0.weight": "base_model.model.model.visual.merger.mlp.0.weight",
            "visual.patch_embed.proj.weight": "base_model.model.model.visual.patch_embed.proj.weight"}
    for peft_name in full.values():
        params[peft_name].requires_grad_(True)
    peft_model.zero_grad()
    res = peft_model(**batch)
    res.loss.backward()
    for short, m in modules.items():
        for k in ("a", "b"):
            peft_name = [n for n in params if n.endswith(short.replace("language_model.", "", 1) + (".lora_A.default.weight" if k == "a" else ".lora_B.default.weight"))
                         and "language_model" in n]
            assert len(peft_name) == 1, (short, peft_name)
            tensors[f"grad.{m[k]}"] = params[peft_name[0]].grad.detach().clone()
    for pulse_name, peft_name in full.items():
        tensors[f"grad.{pulse_name}"] = params[peft_name].grad.detach().clone()
    return {"rank": 4, "alpha": 8, "modules": modules, "full": sorted(full), "loss_with_lora": res.loss.item(),
            "init": "a ~ 0.1 N(0, 1), b ~ 0.05 N(0, 1), seeded, in sorted PEFT parameter-name order"}


def build(kind: str, out: str, images: dict, tok_json: dict, seed: int) -> dict:
    qwen25 = kind == "qwen2.5-vl"
    cls = Qwen2_5_VLForConditionalGeneration if qwen25 else Qwen2VLForConditionalGeneration
    hub_dir = os.path.join(out, f"{kind}-hub")
    new_dir = os.path.join(out, f"{kind}-new") if qwen25 else None
    dtype = torch.bfloat16 if qwen25 else torch.float16
    for d in filter(None, (hub_dir, new_dir)):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        write_json(os.path.join(d, "tokenizer.json"), tok_json)
        write_json(os.path.join(d, "preprocessor_config.json"), preprocessor_config())
    # the template in chat_template.json (Qwen2.5-VL's Hub folder) or in tokenizer_config.json (the others)
    write_json(os.path.join(hub_dir, "tokenizer_config.json"), tokenizer_config(template_here=not qwen25))
    if qwen25:
        write_json(os.path.join(hub_dir, "chat_template.json"), {"chat_template": CHAT_TEMPLATE})
        write_json(os.path.join(new_dir, "tokenizer_config.json"), tokenizer_config(template_here=True))
    write_json(os.path.join(hub_dir, "config.json"), qwen25_hub_config() if qwen25 else qwen2_hub_config())

    config = AutoConfig.from_pretrained(hub_dir)
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = cls(config).float()
    init_weights(model, seed, dtype)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    tied = config.tie_word_embeddings
    if tied:
        assert state["lm_head.weight"].data_ptr() == 0 or torch.equal(state["lm_head.weight"], state["model.language_model.embed_tokens.weight"])
    hub_tensors = {hub_name(k): v.to(dtype) for k, v in state.items() if not (tied and k == "lm_head.weight")}
    write_shards(hub_dir, hub_tensors, split=True)
    if new_dir:
        config.save_pretrained(new_dir)
        write_shards(new_dir, {k: v for k, v in state.items() if not (tied and k == "lm_head.weight")}, split=False)

    # both folders load to the same model in transformers
    for folder in filter(None, (hub_dir, new_dir)):
        loaded = cls.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager")
        mine = loaded.state_dict()
        assert set(mine) == set(state), sorted(set(mine) ^ set(state))[:5]
        assert all(torch.equal(mine[k], state[k]) for k in state), folder

    tokenizer = PreTrainedTokenizerFast.from_pretrained(hub_dir)
    tokenizer.padding_side = "right"
    image_processor = Qwen2VLImageProcessorPil(**{k: v for k, v in preprocessor_config().items()
                                                  if k not in ("image_processor_type", "processor_class")})
    inputs = Inputs(tokenizer, image_processor, images)
    tensors: dict[str, torch.Tensor] = {}
    cases = {}
    for name, rows in CASES.items():
        batch, prompts = inputs.rows(rows)
        result = run_model(model, batch)
        record(name, batch, result, tensors, logits=name != "train")  # train: its loss (the fixtures stay small)
        cases[name] = {
            "rows": [{"question": q, "image": im, "answer": a} for q, im, a in rows], "texts": prompts,
            "shape": list(batch["input_ids"].shape), "loss": result["loss"] if name == "train" else None,
            "tokens_per_row": batch["attention_mask"].sum(1).tolist(),
            "image_grid_thw": batch["image_grid_thw"].tolist() if "image_grid_thw" in batch else [],
        }
    # the vision tower alone: its features (after the merger, in the image's order) for the batch's images
    with torch.no_grad():
        b = {k: tensors[f"batch.{k}"] for k in ("pixel_values", "image_grid_thw")}
        features = model.model.get_image_features(b["pixel_values"], b["image_grid_thw"], return_dict=True).pooler_output
        tensors["batch.image_features"] = torch.cat(list(features)).float()
    # batch rows alone: right padding changes nothing at the real positions
    alone = []
    for i, row in enumerate(CASES["batch"]):
        single, _ = inputs.rows([row])
        n = single["input_ids"].shape[1]
        alone.append((run_model(model, single)["logits"][0] - tensors["batch.logits"][i, :n]).abs().max().item())
    train, _ = inputs.rows(CASES["train"])
    lora = lora_reference(model, train, seed + 1, tensors)
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(out, "expected", f"{kind}.safetensors"),
              metadata={"format": "pt"})
    return {
        "model": {"class": cls.__name__, "hub": os.path.basename(hub_dir), "new": new_dir and os.path.basename(new_dir),
                  "dtype_hub": str(dtype).replace("torch.", ""), "tied": tied,
                  "parameters": sum(v.numel() for k, v in state.items() if not (tied and k == "lm_head.weight"))},
        "tokens": {name: special_id(name) for name in SPECIAL},
        "cases": cases, "batch_rows_alone_max_abs_diff": alone, "lora": lora,
        "tensors": {k: {"dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape)} for k, v in sorted(tensors.items())},
    }


def write_readme(path: str, versions: dict) -> None:
    lines = [
        "# Qwen2-VL and Qwen2.5-VL reference fixtures", "",
        "Made by `scripts/qwen-parity.py` (seeded); do not edit by hand. To remake them, from the repository root:", "",
        "    /work/venv-ref/bin/python scripts/qwen-parity.py", "",
        "Made with " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".", "",
        "- `qwen2.5-vl-hub/`: a tiny random Qwen2.5-VL as the Hub lays it out (config with text fields at the top,",
        "  `rope_scaling: {type: mrope, mrope_section: [1, 2, 3]}`, a partial `vision_config`; tensors `visual.*`,",
        "  `model.*`, tied `lm_head` absent; bfloat16, two shards), Qwen2's tokenizer layout (byte-level BPE, 400",
        "  pieces, the Qwen2-VL special tokens from id 400; the embedding has 416 rows), the official chat template",
        "  in `chat_template.json`, a `preprocessor_config.json` with patch 4, merge 2 and small min/max pixels.",
        "  Vision: hidden 32, 3 blocks, window 16 px (2x2 merged units a window), full attention in block 1.",
        "- `qwen2.5-vl-new/`: the same model as transformers 5 writes it (nested `text_config`, `rope_parameters`,",
        "  `model.visual.*`, `model.language_model.*`), float32 in one `model.safetensors`.",
        "- `qwen2-vl-hub/`: a tiny random Qwen2-VL (LayerNorm tower, QuickGELU, full attention; untied lm_head,",
        "  one key/value head), Hub layout, float16 in two shards; the template in `tokenizer_config.json`.",
        "- `expected/`: the input images, and per model `<model>.safetensors` + `<model>.json`: the cases `image`",
        "  (one row), `batch` (four right-padded rows: portrait, text only, a large image resized down, a small one",
        "  resized up) and `train` (three rows with answers; labels on the answer and `<|im_end|>`), each with",
        "  input_ids, attention_mask, mm_token_type_ids, labels, pixel_values, image_grid_thw, position_ids",
        "  (`get_rope_index`, [3, B, T]), rope_deltas, logits; `batch.image_features` (the tower and merger alone);",
        "  LoRA factors `lora.<layer>.{a,b}` (PEFT, r 4, alpha 8, the seven projections of the language model) and",
        "  the gradients of the `train` loss for them and for the merger's first linear layer and the patch",
        "  embedding (trained in full). `train` records its loss, not its logits (the fixtures stay small).",
        "",
        "All outputs from transformers in float32, eval mode, eager attention, weights upcast from the stored dtype.",
    ]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=os.path.join("test", "fixtures", "qwen"))
    p.add_argument("--seed", type=int, default=SEED)
    args = p.parse_args()
    os.makedirs(os.path.join(args.out, "expected"), exist_ok=True)
    tok_json = build_tokenizer(build_corpus(args.seed))
    images = {}
    for i, (name, size) in enumerate(IMAGES.items()):
        images[name] = make_image(name, size, args.seed + i)
        images[name].save(os.path.join(args.out, "expected", f"{name}.png"))
    import peft
    versions = {"python": sys.version.split()[0], "torch": torch.__version__, "transformers": transformers.__version__,
                "peft": peft.__version__, "tokenizers": tokenizers.__version__, "safetensors": safetensors.__version__,
                "numpy": np.__version__, "pillow": Image.__version__}
    summary = {}
    for i, kind in enumerate(("qwen2.5-vl", "qwen2-vl")):
        info = build(kind, args.out, images, tok_json, args.seed + 10 * i)
        info["versions"] = versions
        write_json(os.path.join(args.out, "expected", f"{kind}.json"), info)
        summary[kind] = {"train_loss": info["cases"]["train"]["loss"], "lora_loss": info["lora"]["loss_with_lora"],
                         "alone": max(info["batch_rows_alone_max_abs_diff"]),
                         "grids": info["cases"]["batch"]["image_grid_thw"]}
    write_readme(os.path.join(args.out, "README.md"), versions)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
