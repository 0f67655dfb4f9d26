"""The transformers + PEFT side of `npm run bench:qwen`: LoRA training steps of a Qwen2.5-VL / Qwen2-VL.

Measures the wall time of one LoRA training step (zero_grad, forward, labels loss, backward, AdamW on
the adapters) of transformers' Qwen2_5_VLForConditionalGeneration (or Qwen2VLForConditionalGeneration,
as the folder's model_type says) + PEFT's get_peft_model on the language model's seven projections,
read from a Hugging Face folder, on the batch and initial adapters of an inputs file, so that it can
be set beside pulse (bench/qwen-step.ts), which reads the same two files:

  python bench/qwen_reference.py --model DIR --inputs FILE --steps N --warmup N --threads N \\
      [--device cpu|cuda] [--dtype float32|bfloat16]
  python bench/qwen_reference.py --model DIR --random --device cuda --dtype bfloat16 --batch 4 --text 64 --image 448
      (full size with no weights on disk: transformers' own random init, a batch made here)

Prints one JSON line on stdout (logs go to stderr): impl, versions, attention, threads, device, dtype,
steps, warmup, step_ms (timed steps), losses (every step), tokens_per_step (B*T), peak_rss_mib,
peak_gpu_mib (torch.cuda.max_memory_allocated, or null), parameters, trainable.

The inputs file (safetensors): input_ids, attention_mask (all ones), labels (-100 where not a target),
mm_token_type_ids int64 [B, T] (each row's image already expanded to its <|image_pad|> tokens);
pixel_values float32 [patches, C*T*P*P] and image_grid_thw int64 [B, 3], one image a row;
`lora.<module>.a` float32 [r, in] for language_model.layers.{i}.self_attn.{q,k,v,o}_proj and
language_model.layers.{i}.mlp.{gate,up,down}_proj; metadata rank, alpha, lr. Adapters: y = W x +
(alpha / r) B(A x), A from the file, B zeros, float32. Loss: transformers' labels= loss. Optimiser:
torch.optim.AdamW(lr from the file, betas (0.9, 0.999), eps 1e-8, weight_decay 0).
"""
import argparse
import contextlib
import json
import sys

import torch

from llava_reference import train_steps  # the same timed steps as bench:llava's Python sides

LM_MODULES = ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj']
PEFT_TARGET = r'.*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)'


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def model_class(model_dir):
    import transformers
    with open(f'{model_dir}/config.json') as f:
        model_type = json.load(f)['model_type']
    return {'qwen2_5_vl': transformers.Qwen2_5_VLForConditionalGeneration, 'qwen2_vl': transformers.Qwen2VLForConditionalGeneration}[model_type]


def build(args, dtype, device, lora_a, rank, alpha):
    import peft
    import transformers
    from peft import LoraConfig, get_peft_model
    cls = model_class(args.model)
    if args.random:
        config = transformers.AutoConfig.from_pretrained(args.model)
        with torch.device(device):
            model = cls._from_config(config, dtype=dtype)
    else:
        model = cls.from_pretrained(args.model, dtype=dtype).to(device)
    info = {'transformers': transformers.__version__, 'peft': peft.__version__, 'attention': model.config._attn_implementation}
    model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, bias='none', target_modules=PEFT_TARGET))
    found = {}
    for name, m in model.named_modules():
        if hasattr(m, 'lora_A') and 'default' in m.lora_A:
            found['language_model.' + name.split('language_model.', 1)[1]] = m
    if lora_a is not None and set(found) != set(lora_a):
        raise SystemExit(f'PEFT adapted {len(found)} modules, the inputs file has {len(lora_a)}: e.g. {sorted(set(found) ^ set(lora_a))[:3]}')
    with torch.no_grad():
        for n, m in found.items():
            if m.lora_A['default'].weight.dtype != torch.float32:
                m.lora_A['default'].float()
                m.lora_B['default'].float()
            if lora_a is not None:
                m.lora_A['default'].weight.copy_(lora_a[n])
            m.lora_B['default'].weight.zero_()
    lora = [p for p in model.parameters() if p.requires_grad]
    return model, lora, sum(p.numel() for p in model.parameters()), info


def random_batch(model, device, batch, text, image):
    """One image of image x image pixels a row (random patches), `text` random tokens after it, the last 16 labelled."""
    config = model.config
    vision = config.vision_config
    patch, merge, temporal = vision.patch_size, vision.spatial_merge_size, vision.temporal_patch_size
    side = image // patch
    tokens = side * side // merge ** 2
    vocab = min(config.text_config.vocab_size, config.vision_start_token_id)
    ids = torch.cat([torch.full((batch, 1), config.vision_start_token_id), torch.full((batch, tokens), config.image_token_id),
                     torch.full((batch, 1), config.vision_end_token_id), torch.randint(3, vocab, (batch, text))], 1)
    labels = torch.full_like(ids, -100)
    labels[:, -16:] = ids[:, -16:]
    return {'input_ids': ids.to(device), 'attention_mask': torch.ones_like(ids).to(device), 'labels': labels.to(device),
            'mm_token_type_ids': (ids == config.image_token_id).long().to(device),
            'pixel_values': torch.randn(batch * side * side, 3 * temporal * patch * patch).to(device),
            'image_grid_thw': torch.tensor([[1, side, side]] * batch).to(device)}


def run(args):
    from safetensors import safe_open
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.set_num_threads(args.threads)
    dtype = {'float32': torch.float32, 'bfloat16': torch.bfloat16}[args.dtype]
    device = torch.device(args.device)
    if args.random:
        rank, alpha, lr, lora_a = args.rank, 2 * args.rank, 1e-4, None
    else:
        with safe_open(args.inputs, 'pt') as f:
            meta = f.metadata()
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        rank, alpha, lr = int(float(meta['rank'])), float(meta['alpha']), float(meta['lr'])
        alpha = int(alpha) if alpha == int(alpha) else alpha
        lora_a = {k[len('lora.'):-len('.a')]: v for k, v in tensors.items() if k.startswith('lora.')}
    model, lora, total, info = build(args, dtype, device, lora_a, rank, alpha)
    if args.random:
        torch.manual_seed(0)
        batch = random_batch(model, device, args.batch, args.text, args.image)
    else:
        batch = {k: tensors[k].to(device) for k in ('input_ids', 'attention_mask', 'labels', 'mm_token_type_ids', 'pixel_values', 'image_grid_thw')}
    result = {'impl': 'hf+peft', 'torch': torch.__version__, **info}
    result.update(train_steps(model, lambda: model(**batch).loss, lora, lr, args, device, 'hf+peft'))
    ids = batch['input_ids']
    result.update({'tokens_per_step': ids.shape[0] * ids.shape[1], 'gpu': torch.cuda.get_device_name(device) if device.type == 'cuda' else None,
                   'parameters': total, 'trainable': sum(p.numel() for p in lora)})
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--model', required=True, help='Hugging Face Qwen2-VL / Qwen2.5-VL folder')
    p.add_argument('--inputs', help='the batch and adapters (see above)')
    p.add_argument('--random', action='store_true', help="transformers' random init from the folder's config, a batch made here")
    p.add_argument('--steps', type=int, default=3)
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--device', default='cpu')
    p.add_argument('--dtype', choices=['float32', 'bfloat16'], default='float32')
    p.add_argument('--batch', type=int, default=4, help='--random: rows')
    p.add_argument('--text', type=int, default=64, help='--random: text tokens after the image')
    p.add_argument('--image', type=int, default=448, help='--random: the image side in pixels')
    p.add_argument('--rank', type=int, default=16, help='--random: LoRA rank (alpha 2 x rank)')
    args = p.parse_args()
    if not args.inputs and not args.random:
        p.error('--inputs or --random is required')
    stdout = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):
        result = run(args)
    print(json.dumps(result), file=stdout, flush=True)


if __name__ == '__main__':
    main()
