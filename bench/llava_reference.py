"""The two Python sides of `npm run bench:llava`: LoRA training steps of a LLaVA-1.5.

Measures the wall time of one LoRA training step (zero_grad, forward, labels loss, backward,
AdamW on the adapters) of a LLaVA-1.5 model (CLIP ViT + projector + Llama) read from a Hugging
Face folder, on the batch and initial adapters of an inputs file, so that it can be set beside
pulse (bench/llava-step.ts), which reads the same two files:

  --impl torch  the model written out in plain PyTorch modules (matmul + float32 softmax attention,
                no transformers): run with Debian's /usr/bin/python3 (python3-torch 1.13, the
                libtorch pulse is built on), it times the same libtorch driven from Python; it also
                runs on torch 2.x.
  --impl hf     transformers' LlavaForConditionalGeneration (its default attention implementation,
                reported as "attention") + PEFT's get_peft_model: the stack researchers use; run it
                with a Python whose environment has torch, transformers and peft.

bench/llava.ts writes the model folder and the inputs file, runs pulse and both sides here in
their own processes, in turn, and compares times, peak RSS and losses:

  python bench/llava_reference.py --impl torch|hf --model DIR --inputs FILE --steps N --warmup N \\
      --threads N [--device cpu|cuda] [--dtype float32|bfloat16]

Prints exactly one JSON line on stdout (everything else goes to stderr): impl, versions, attention,
threads, device, dtype, steps, warmup, step_ms (one per timed step, after the warm-up steps),
losses (every step, warm-up included), tokens_per_step (B*T), peak_rss_mib (ru_maxrss), peak_gpu_mib
(torch.cuda.max_memory_allocated, or null), parameters (every tensor of the checkpoint plus the
adapters; --impl torch reads but never builds the CLIP layers after vision_feature_layer nor
post_layernorm, which LLaVA never uses) and trainable (the adapters' parameter count).

The inputs file (safetensors): input_ids, attention_mask (all ones), labels (-100 where not a
target) int64 [B, T], each row's <image> already expanded to one token per patch; pixel_values
float32 [B, 3, S, S], one image a row; `lora.<module>.a` float32 [r, in] for each adapted module,
`language_model.layers.{i}.self_attn.{q,k,v,o}_proj` and `language_model.layers.{i}.mlp.{gate,up,
down}_proj`; metadata rank, alpha, lr. Adapters: y = W x + (alpha / r) * B(A x), A from the file,
B zeros, float32 (PEFT's rule, also under --dtype bfloat16). Loss: logits[:, :-1] predict
labels[:, 1:], mean cross entropy over the targets, on logits upcast to float32 (transformers').
Optimiser: torch.optim.AdamW(lr from the file, betas (0.9, 0.999), eps 1e-8, weight_decay 0).

For development: `--make-test-inputs FILE --model DIR` writes a small inputs file for the model in
DIR (e.g. test/fixtures/llava/tiny-hub), and `--check-logits CASES` compares the logits of
--impl's model with those in a cases.safetensors of scripts/llava-parity.py (cases whose attention
mask is all ones).
"""
import argparse
import contextlib
import ctypes
import json
import math
import os
import re
import resource
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

LM_MODULES = ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj',
              'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj']
PEFT_TARGET = r'.*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)'


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# safetensors by hand (Debian has no `safetensors` module): u64 little-endian header length, a
# JSON header {name: {dtype, shape, data_offsets}, __metadata__: {str: str}}, then the data.

ST_DTYPES = {'F64': torch.float64, 'F32': torch.float32, 'F16': torch.float16, 'BF16': torch.bfloat16,
             'I64': torch.int64, 'I32': torch.int32, 'I16': torch.int16, 'I8': torch.int8,
             'U8': torch.uint8, 'BOOL': torch.bool}
ST_NAMES = {v: k for k, v in ST_DTYPES.items()}


def st_header(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
    return header, 8 + n


def st_read(path, want=None, dtype=None):
    """{name: tensor} of the file's tensors (those for which want(name) is true), floating ones
    converted to dtype when given; and the metadata. Reads one tensor at a time."""
    header, base = st_header(path)
    meta = header.pop('__metadata__', None) or {}
    out = {}
    with open(path, 'rb') as f:
        for name, e in sorted(header.items(), key=lambda kv: kv[1]['data_offsets'][0]):
            if want is not None and not want(name):
                continue
            start, end = e['data_offsets']
            dt = ST_DTYPES[e['dtype']]
            if end == start:
                t = torch.empty(e['shape'], dtype=dt)
            else:
                buf = bytearray(end - start)
                f.seek(base + start)
                f.readinto(buf)
                if dt == torch.bfloat16:  # frombuffer wants a dtype numpy knows on old torch
                    t = torch.frombuffer(buf, dtype=torch.int16).view(torch.bfloat16)
                else:
                    t = torch.frombuffer(buf, dtype=dt)
                t = t.reshape(e['shape'])
            if dtype is not None and t.is_floating_point():
                t = t.to(dtype)
            out[name] = t
    return out, meta


def st_write(path, tensors, metadata=None):
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        t = t.detach().cpu().contiguous()
        n = t.numel() * t.element_size()
        header[name] = {'dtype': ST_NAMES[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + n]}
        blobs.append(ctypes.string_at(t.data_ptr(), n) if n else b'')
        offset += n
    if metadata:
        header['__metadata__'] = {k: str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def checkpoint_files(model_dir):
    index = os.path.join(model_dir, 'model.safetensors.index.json')
    if os.path.exists(index):
        with open(index) as f:
            return [os.path.join(model_dir, s) for s in sorted(set(json.load(f)['weight_map'].values()))]
    single = os.path.join(model_dir, 'model.safetensors')
    if not os.path.exists(single):
        raise SystemExit(f'{model_dir}: neither model.safetensors nor model.safetensors.index.json')
    return [single]


def hub_name(name):
    """The llava-hf name of a tensor saved by transformers 4.52-4.57 (model.language_model.*,
    lm_head.weight, model.vision_tower.*) or 5.x (CLIP flat under vision_tower)."""
    if name == 'lm_head.weight':
        return 'language_model.lm_head.weight'
    if name.startswith('model.language_model.'):
        return 'language_model.model.' + name[len('model.language_model.'):]
    if name.startswith('model.'):
        name = name[len('model.'):]
    if name.startswith('vision_tower.') and not name.startswith('vision_tower.vision_model.'):
        name = 'vision_tower.vision_model.' + name[len('vision_tower.'):]
    return name


# ---------------------------------------------------------------------------------------------
# config, with the defaults that transformers' LlamaConfig / CLIPVisionConfig / LlavaConfig fill in

LLAMA_DEFAULTS = dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                      num_attention_heads=32, num_key_value_heads=None, head_dim=None, hidden_act='silu',
                      rms_norm_eps=1e-6, rope_theta=10000.0, attention_bias=False, mlp_bias=False)
CLIP_DEFAULTS = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                     num_channels=3, image_size=224, patch_size=32, hidden_act='quick_gelu', layer_norm_eps=1e-5)


def load_config(model_dir):
    with open(os.path.join(model_dir, 'config.json')) as f:
        c = json.load(f)
    tc = dict(LLAMA_DEFAULTS, **c.get('text_config', {}))
    vc = dict(CLIP_DEFAULTS, **c.get('vision_config', {}))
    if tc.get('model_type', 'llama') != 'llama':
        raise SystemExit(f"text_config.model_type {tc['model_type']}: only llama")
    rope = tc.get('rope_parameters') or tc.get('rope_scaling') or {}
    if rope.get('rope_type', rope.get('type', 'default')) != 'default':
        raise SystemExit(f'rope {rope}: only the default RoPE')
    tc['rope_theta'] = float(rope.get('rope_theta', tc['rope_theta']))
    tc['num_key_value_heads'] = tc['num_key_value_heads'] or tc['num_attention_heads']
    tc['head_dim'] = tc['head_dim'] or tc['hidden_size'] // tc['num_attention_heads']
    layer = c.get('vision_feature_layer', -2)
    if not isinstance(layer, int):
        raise SystemExit(f'vision_feature_layer {layer}: only one layer')
    n = vc['num_hidden_layers']
    return dict(text=tc, vision=vc,
                image_token_id=c.get('image_token_id', c.get('image_token_index', 32000)),
                projector_act=c.get('projector_hidden_act', 'gelu'),
                strategy=c.get('vision_feature_select_strategy', 'default'),
                # hidden_states[k] is the output of encoder layer k-1 (0: the embeddings): run k layers
                vision_layers_used=layer if layer >= 0 else n + 1 + layer)


ACTS = {'gelu': F.gelu, 'quick_gelu': lambda x: x * torch.sigmoid(1.702 * x), 'silu': F.silu}


# ---------------------------------------------------------------------------------------------
# --impl torch: LLaVA-1.5 in plain PyTorch. Every weight frozen (requires_grad False) except the
# LoRA adapters. Numerics as transformers': float32 softmax, float32 RMSNorm, float32 RoPE tables.

def frozen(t):
    return nn.Parameter(t, requires_grad=False)


class Linear(nn.Module):
    """A frozen linear layer, with an optional LoRA adapter (float32, as PEFT keeps them)."""

    def __init__(self, w, b=None):
        super().__init__()
        self.weight = frozen(w)
        self.bias = frozen(b) if b is not None else None
        self.lora_a = self.lora_b = None

    def attach_lora(self, a, scale):
        self.lora_a = nn.Parameter(a.to(device=self.weight.device, dtype=torch.float32).clone())
        self.lora_b = nn.Parameter(torch.zeros(self.weight.shape[0], a.shape[0], device=self.weight.device))
        self.scale = scale

    def forward(self, x):
        y = F.linear(x, self.weight, self.bias)
        if self.lora_a is None:
            return y
        lora = F.linear(F.linear(x.to(torch.float32), self.lora_a), self.lora_b) * self.scale
        return (y + lora).to(y.dtype)


def attention(q, k, v, scale, mask=None):
    """q, k, v [B, H, T, d]; mask [T, T] bool, True where a query may not look."""
    att = torch.matmul(q, k.transpose(-1, -2)) * scale
    if mask is not None:
        att = att.masked_fill(mask, float('-inf'))
    att = F.softmax(att, dim=-1, dtype=torch.float32).to(q.dtype)
    return torch.matmul(att, v)


class ClipLayer(nn.Module):
    def __init__(self, w, p, c):
        super().__init__()
        self.heads, self.eps, self.act = c['num_attention_heads'], c['layer_norm_eps'], ACTS[c['hidden_act']]
        self.ln1_w, self.ln1_b = frozen(w[p + 'layer_norm1.weight']), frozen(w[p + 'layer_norm1.bias'])
        self.ln2_w, self.ln2_b = frozen(w[p + 'layer_norm2.weight']), frozen(w[p + 'layer_norm2.bias'])
        lin = lambda n: Linear(w[p + n + '.weight'], w[p + n + '.bias'])
        self.q, self.k, self.v, self.o = (lin('self_attn.' + n) for n in ('q_proj', 'k_proj', 'v_proj', 'out_proj'))
        self.fc1, self.fc2 = lin('mlp.fc1'), lin('mlp.fc2')

    def forward(self, x):
        B, N, D = x.shape
        d = D // self.heads
        h = F.layer_norm(x, (D,), self.ln1_w, self.ln1_b, self.eps)
        q, k, v = (m(h).view(B, N, self.heads, d).transpose(1, 2) for m in (self.q, self.k, self.v))
        x = x + self.o(attention(q, k, v, d ** -0.5).transpose(1, 2).reshape(B, N, D))
        h = F.layer_norm(x, (D,), self.ln2_w, self.ln2_b, self.eps)
        return x + self.fc2(self.act(self.fc1(h)))


class Vision(nn.Module):
    """CLIP ViT up to the feature layer: class token + patches (conv, no bias) + positions,
    pre_layrnorm, then only the encoder layers that hidden_states[vision_feature_layer] needs."""

    def __init__(self, w, c, n_layers):
        super().__init__()
        p = 'vision_tower.vision_model.'
        self.patch, self.eps = c['patch_size'], c['layer_norm_eps']
        self.cls = frozen(w[p + 'embeddings.class_embedding'])
        self.conv = frozen(w[p + 'embeddings.patch_embedding.weight'])
        self.pos = frozen(w[p + 'embeddings.position_embedding.weight'])
        self.pre_w, self.pre_b = frozen(w[p + 'pre_layrnorm.weight']), frozen(w[p + 'pre_layrnorm.bias'])
        self.layers = nn.ModuleList(ClipLayer(w, f'{p}encoder.layers.{i}.', c) for i in range(n_layers))

    def forward(self, pixels):
        x = F.conv2d(pixels.to(self.conv.dtype), self.conv, stride=self.patch).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], 1, -1), x], dim=1) + self.pos
        x = F.layer_norm(x, x.shape[-1:], self.pre_w, self.pre_b, self.eps)
        for layer in self.layers:
            x = layer(x)
        return x


def rms_norm(x, w, eps):
    h = x.to(torch.float32)
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return w * h.to(x.dtype)


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class LlamaLayer(nn.Module):
    def __init__(self, w, p, c):
        super().__init__()
        self.heads, self.kv_heads, self.d, self.eps = c['num_attention_heads'], c['num_key_value_heads'], c['head_dim'], c['rms_norm_eps']
        self.ln1, self.ln2 = frozen(w[p + 'input_layernorm.weight']), frozen(w[p + 'post_attention_layernorm.weight'])
        lin = lambda n: Linear(w[p + n + '.weight'], w.get(p + n + '.bias'))
        self.self_attn = nn.ModuleDict({n: lin('self_attn.' + n) for n in ('q_proj', 'k_proj', 'v_proj', 'o_proj')})
        self.mlp = nn.ModuleDict({n: lin('mlp.' + n) for n in ('gate_proj', 'up_proj', 'down_proj')})

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        a = self.self_attn
        h = rms_norm(x, self.ln1, self.eps)
        q = a['q_proj'](h).view(B, T, self.heads, self.d).transpose(1, 2)
        k = a['k_proj'](h).view(B, T, self.kv_heads, self.d).transpose(1, 2)
        v = a['v_proj'](h).view(B, T, self.kv_heads, self.d).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if self.kv_heads != self.heads:
            k = k.repeat_interleave(self.heads // self.kv_heads, dim=1)
            v = v.repeat_interleave(self.heads // self.kv_heads, dim=1)
        y = attention(q, k, v, self.d ** -0.5, mask).transpose(1, 2).reshape(B, T, self.heads * self.d)
        x = x + a['o_proj'](y)
        h = rms_norm(x, self.ln2, self.eps)
        m = self.mlp
        return x + m['down_proj'](F.silu(m['gate_proj'](h)) * m['up_proj'](h))


class Llava(nn.Module):
    def __init__(self, w, cfg):
        super().__init__()
        tc, vc = cfg['text'], cfg['vision']
        if tc['hidden_act'] != 'silu':
            raise SystemExit(f"text hidden_act {tc['hidden_act']}: only silu")
        self.cfg = cfg
        self.vision = Vision(w, vc, cfg['vision_layers_used'])
        p = 'multi_modal_projector.'
        self.proj1 = Linear(w[p + 'linear_1.weight'], w.get(p + 'linear_1.bias'))
        self.proj2 = Linear(w[p + 'linear_2.weight'], w.get(p + 'linear_2.bias'))
        self.proj_act = ACTS[cfg['projector_act']]
        p = 'language_model.model.'
        self.embed = frozen(w[p + 'embed_tokens.weight'])
        self.layers = nn.ModuleList(LlamaLayer(w, f'{p}layers.{i}.', tc) for i in range(tc['num_hidden_layers']))
        self.norm = frozen(w[p + 'norm.weight'])
        self.lm_head = frozen(w['language_model.lm_head.weight'])
        d = tc['head_dim']
        self.register_buffer('inv_freq', 1.0 / (tc['rope_theta'] ** (torch.arange(0, d, 2).float() / d)), persistent=False)

    def lora_modules(self):
        """{'language_model.layers.{i}.self_attn.q_proj': Linear, ...}: the names of the inputs file."""
        out = {}
        for i, layer in enumerate(self.layers):
            for group, mods in (('self_attn', layer.self_attn), ('mlp', layer.mlp)):
                for n, m in mods.items():
                    out[f'language_model.layers.{i}.{group}.{n}'] = m
        return out

    def image_features(self, pixels):
        h = self.vision(pixels)
        if self.cfg['strategy'] == 'default':
            h = h[:, 1:]
        return self.proj2(self.proj_act(self.proj1(h)))

    def logits(self, ids, pixels=None):
        B, T = ids.shape
        x = F.embedding(ids, self.embed)
        if pixels is not None:
            feats = self.image_features(pixels)
            where = ids == self.cfg['image_token_id']
            if int(where.sum()) != feats.shape[0] * feats.shape[1]:
                raise ValueError(f'{int(where.sum())} image tokens for {feats.shape[0]} x {feats.shape[1]} image features')
            x = x.clone()
            x[where] = feats.reshape(-1, feats.shape[-1]).to(x.dtype)
        freqs = torch.outer(torch.arange(T, device=ids.device, dtype=torch.float32), self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
        mask = torch.ones(T, T, dtype=torch.bool, device=ids.device).triu(1)
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        x = rms_norm(x, self.norm, self.cfg['text']['rms_norm_eps'])
        return F.linear(x, self.lm_head)

    def loss(self, batch):
        logits = self.logits(batch['input_ids'], batch.get('pixel_values')).to(torch.float32)
        V = logits.shape[-1]
        return F.cross_entropy(logits[:, :-1].reshape(-1, V), batch['labels'][:, 1:].reshape(-1), ignore_index=-100)


def build_torch(model_dir, dtype, device, lora_a, rank, alpha):
    cfg = load_config(model_dir)
    n_vision = cfg['vision'].get('num_hidden_layers')
    skip = re.compile(r'vision_tower\.vision_model\.(post_layernorm\.|encoder\.layers\.(\d+)\.)')

    def used(name):
        m = skip.match(name)
        return not m or (m.group(2) is not None and int(m.group(2)) < cfg['vision_layers_used'])

    w, total = {}, 0
    for path in checkpoint_files(model_dir):
        header, _ = st_header(path)
        header.pop('__metadata__', None)
        total += sum(math.prod(e['shape']) for n, e in header.items() if not n.endswith(('inv_freq', 'position_ids')))
        tensors, _ = st_read(path, want=lambda n: used(hub_name(n)), dtype=dtype)
        w.update((hub_name(n), t) for n, t in tensors.items())
    model = Llava(w, cfg)
    built = {p.data_ptr() for p in model.parameters()}
    unused = [n for n, t in w.items() if t.numel() and t.data_ptr() not in built]
    log(f'[torch] {len(w)} tensors read ({n_vision - cfg["vision_layers_used"]} CLIP layer(s) after the feature '
        f'layer and post_layernorm skipped), {len(built)} parameters built')
    if unused:
        log(f'[torch] warning: {len(unused)} tensors of the checkpoint unused, e.g. {unused[:5]}')
    model = model.to(device)
    if lora_a is not None:
        mods = model.lora_modules()
        if set(mods) != set(lora_a):
            raise SystemExit(f'LoRA modules in the inputs file ({len(lora_a)}) are not the model\'s seven '
                             f'projections a layer ({len(mods)}): e.g. {sorted(set(mods) ^ set(lora_a))[:3]}')
        for n, m in mods.items():
            if lora_a[n].shape != (rank, m.weight.shape[1]):
                raise SystemExit(f'lora.{n}.a: shape {tuple(lora_a[n].shape)}, want {(rank, m.weight.shape[1])}')
            m.attach_lora(lora_a[n], alpha / rank)
    lora = [p for p in model.parameters() if p.requires_grad]
    return model, lora, total + sum(p.numel() for p in lora)


# ---------------------------------------------------------------------------------------------
# --impl hf: transformers + PEFT

def build_hf(model_dir, dtype, device, lora_a, rank, alpha, attn=None):
    import transformers
    from transformers import LlavaForConditionalGeneration
    kw = {'attn_implementation': attn} if attn else {}
    model = LlavaForConditionalGeneration.from_pretrained(model_dir, dtype=dtype, **kw).to(device)
    impls = {model.config.text_config._attn_implementation, model.config.vision_config._attn_implementation}
    info = {'transformers': transformers.__version__,
            'attention': impls.pop() if len(impls) == 1 else
            f'text {model.config.text_config._attn_implementation}, vision {model.config.vision_config._attn_implementation}'}
    if lora_a is None:
        return model, [], sum(p.numel() for p in model.parameters()), info
    import peft
    from peft import LoraConfig, get_peft_model
    info['peft'] = peft.__version__
    model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, bias='none', target_modules=PEFT_TARGET))
    found = {}
    for name, m in model.named_modules():
        if hasattr(m, 'lora_A') and 'default' in m.lora_A:
            short = name[name.index('language_model.'):].replace('language_model.model.', 'language_model.')
            found[short] = m
    if set(found) != set(lora_a):
        raise SystemExit(f'PEFT adapted {len(found)} modules, the inputs file has {len(lora_a)}: '
                         f'e.g. {sorted(set(found) ^ set(lora_a))[:3]}')
    with torch.no_grad():
        for n, m in found.items():
            a, b = m.lora_A['default'].weight, m.lora_B['default'].weight
            if a.dtype != torch.float32:  # PEFT upcasts adapters to float32 by default; make sure
                m.lora_A['default'].float()
                m.lora_B['default'].float()
                a, b = m.lora_A['default'].weight, m.lora_B['default'].weight
            a.copy_(lora_a[n])
            b.zero_()
    lora = [p for p in model.parameters() if p.requires_grad]
    assert all('lora_' in n for n, p in model.named_parameters() if p.requires_grad)
    return model, lora, sum(p.numel() for p in model.parameters()), info


# ---------------------------------------------------------------------------------------------

def make_test_inputs(model_dir, out, batch, text, rank, alpha, lr, seed):
    """A small batch for the model in model_dir: <s>, a few prompt tokens, the image's tokens, more
    text; the last 3 positions labelled; A ~ 0.05 N(0, 1)."""
    cfg = load_config(model_dir)
    tc, vc = cfg['text'], cfg['vision']
    g = torch.Generator().manual_seed(seed)
    n_img = (vc['image_size'] // vc['patch_size']) ** 2 + (0 if cfg['strategy'] == 'default' else 1)
    top = min(tc['vocab_size'], cfg['image_token_id'])
    pre = torch.randint(3, top, (batch, 2), generator=g)
    post = torch.randint(3, top, (batch, text), generator=g)
    ids = torch.cat([torch.ones(batch, 1, dtype=torch.long), pre,
                     torch.full((batch, n_img), cfg['image_token_id'], dtype=torch.long), post], 1)
    labels = torch.full_like(ids, -100)
    labels[:, -3:] = ids[:, -3:]
    t = {'input_ids': ids, 'attention_mask': torch.ones_like(ids), 'labels': labels,
         'pixel_values': torch.randn(batch, vc['num_channels'], vc['image_size'], vc['image_size'], generator=g)}
    d, inter = tc['hidden_size'], tc['intermediate_size']
    for i in range(tc['num_hidden_layers']):
        for n in LM_MODULES:
            t[f'lora.language_model.layers.{i}.{n}.a'] = 0.05 * torch.randn(rank, inter if n == 'mlp.down_proj' else d, generator=g)
    st_write(out, t, {'rank': rank, 'alpha': alpha, 'lr': lr})
    log(f'wrote {out}: input_ids {list(ids.shape)}, {n_img} image tokens a row, rank {rank}, alpha {alpha}, lr {lr}')


def check_logits(args, dtype, device):
    tensors, _ = st_read(args.check_logits)
    if args.impl == 'torch':
        model, _, _ = build_torch(args.model, dtype, device, None, 0, 0)
        run = lambda ids, px: model.logits(ids, px)
    else:
        model, _, _, _ = build_hf(args.model, dtype, device, None, 0, 0, args.hf_attention)
        run = lambda ids, px: model(input_ids=ids, pixel_values=px).logits
    model.eval()
    result = {}
    with torch.no_grad():
        for case in sorted({k.split('.')[0] for k in tensors if k.endswith('.logits')}):
            mask = tensors.get(case + '.attention_mask')
            if mask is not None and not bool((mask == 1).all()):
                log(f'{case}: padded, skipped (the bench runs unpadded batches)')
                continue
            px = tensors.get(case + '.pixel_values')
            got = run(tensors[case + '.input_ids'].to(device), None if px is None else px.to(device)).float().cpu()
            result[case] = (got - tensors[case + '.logits']).abs().max().item()
            log(f'{case}: logits {list(got.shape)}, max |diff| {result[case]:.3g}')
    return {'check_logits': args.check_logits, 'impl': args.impl, 'max_abs_diff': result}


def run(args):
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.set_num_threads(args.threads)
    dtype = {'float32': torch.float32, 'bfloat16': torch.bfloat16}[args.dtype]
    device = torch.device(args.device)
    cuda = device.type == 'cuda'
    if args.check_logits:
        return check_logits(args, dtype, device)

    tensors, meta = st_read(args.inputs)
    rank, alpha, lr = int(float(meta['rank'])), float(meta['alpha']), float(meta['lr'])
    alpha = int(alpha) if alpha == int(alpha) else alpha
    batch = {k: tensors[k].to(device) for k in ('input_ids', 'attention_mask', 'pixel_values', 'labels')}
    if not bool((batch['attention_mask'] == 1).all()):
        raise SystemExit('attention_mask: the bench runs unpadded batches (all ones)')
    lora_a = {k[len('lora.'):-len('.a')]: v for k, v in tensors.items() if k.startswith('lora.') and k.endswith('.a')}

    result = {'impl': 'torch' if args.impl == 'torch' else 'hf+peft', 'torch': torch.__version__}
    if args.impl == 'torch':
        model, lora, total = build_torch(args.model, dtype, device, lora_a, rank, alpha)
        result['attention'] = 'eager (matmul, float32 softmax)'
        loss_of = lambda: model.loss(batch)
    else:
        model, lora, total, info = build_hf(args.model, dtype, device, lora_a, rank, alpha, args.hf_attention)
        result.update(info)
        loss_of = lambda: model(**batch).loss
    result.update(train_steps(model, loss_of, lora, lr, args, device, result['impl']))
    ids = batch['input_ids']
    result.update({'tokens_per_step': ids.shape[0] * ids.shape[1], 'parameters': total, 'trainable': sum(p.numel() for p in lora)})
    return result


def train_steps(model, loss_of, lora, lr, args, device, label):
    """args.warmup + args.steps training steps (zero_grad, loss, backward, AdamW on `lora`), the last args.steps timed
    (CUDA synchronised): step_ms, losses (every step), peak RSS and peak GPU memory, with the run's settings. bench/qwen_reference.py uses it too."""
    cuda = device.type == 'cuda'
    model.train()
    opt = torch.optim.AdamW(lora, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_of()
        loss.backward()
        opt.step()
        return loss.item()

    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    losses, step_ms = [], []
    for i in range(args.warmup + args.steps):
        if cuda:
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        losses.append(step())
        if cuda:
            torch.cuda.synchronize(device)
        ms = (time.perf_counter() - t0) * 1000
        if i >= args.warmup:
            step_ms.append(ms)
        log(f'[{label}] step {i + 1}{" (warm-up)" if i < args.warmup else ""}: loss {losses[-1]:.6f}, {ms:.1f} ms')
    return {
        'threads': args.threads, 'device': args.device, 'dtype': args.dtype, 'steps': args.steps, 'warmup': args.warmup,
        'step_ms': step_ms, 'losses': losses, 'peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        'peak_gpu_mib': torch.cuda.max_memory_allocated(device) / 2 ** 20 if cuda else None,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog='Prints one JSON line on stdout; logs go to stderr. See the module docstring.')
    p.add_argument('--impl', choices=['torch', 'hf'], required=True,
                   help='torch: plain PyTorch modules; hf: transformers LlavaForConditionalGeneration + PEFT')
    p.add_argument('--model', required=True, help='Hugging Face LLaVA-1.5 folder (config.json, safetensors weights)')
    p.add_argument('--inputs', help='safetensors with input_ids, attention_mask, pixel_values, labels, lora.<module>.a; '
                                    'metadata rank, alpha, lr')
    p.add_argument('--steps', type=int, default=3, help='timed steps (default 3)')
    p.add_argument('--warmup', type=int, default=1, help='untimed steps before them (default 1)')
    p.add_argument('--threads', type=int, default=2, help='torch.set_num_threads (default 2)')
    p.add_argument('--device', default='cpu', help='cpu or cuda[:N] (default cpu)')
    p.add_argument('--dtype', choices=['float32', 'bfloat16'], default='float32',
                   help='dtype of the frozen weights and activations; adapters stay float32 (default float32)')
    p.add_argument('--hf-attention', default=None,
                   help="--impl hf: attn_implementation to ask transformers for (default: transformers' default)")
    p.add_argument('--make-test-inputs', metavar='FILE', help='write a small inputs file for --model to FILE and exit')
    p.add_argument('--test-batch', type=int, default=2, help='--make-test-inputs: rows (default 2)')
    p.add_argument('--test-text', type=int, default=4, help='--make-test-inputs: text tokens after the image (default 4)')
    p.add_argument('--check-logits', metavar='CASES',
                   help="compare --impl's logits with a cases.safetensors of scripts/llava-parity.py and exit")
    args = p.parse_args()
    stdout = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):
        if args.make_test_inputs:
            make_test_inputs(args.model, args.make_test_inputs, args.test_batch, args.test_text, 4, 8, 1e-3, 0)
            return
        if not args.inputs and not args.check_logits:
            p.error('--inputs is required')
        result = run(args)
    print(json.dumps(result), file=stdout, flush=True)


if __name__ == '__main__':
    main()
