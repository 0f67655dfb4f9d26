"""PyTorch twin of bench/engine.ts's TypeScript side: the same reference transformer, the same
ops, the same AdamW and gradient clipping, started from the same weights and token batch, so the
two timings compare the cost of driving libtorch from TypeScript with driving it from Python.

    python3 reference_step.py --weights FILE --threads N [--steps N --warmup N]

FILE is the safetensors file bench/engine.ts writes: the Transformer's state dict under its own
keys (the modules below carry the same names), the token batch under "ids" [batch, seq + 1]
(int64), and the model shape and optimizer settings as JSON in the metadata key "bench".
Debian's python3-torch has no `safetensors` module, so the format is read by hand.
Prints one JSON line: ms/step over the timed steps, the loss of every step (warm-up included,
for bench/engine.ts to check that both sides compute the same thing), the parameter count and
the peak RSS of this process.
"""
import argparse, json, math, resource, struct, time
import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument('--weights', required=True)
p.add_argument('--threads', type=int, required=True)
p.add_argument('--steps', type=int, default=30)
p.add_argument('--warmup', type=int, default=5)
a = p.parse_args()
torch.set_num_threads(a.threads)

DTYPES = {'F32': torch.float32, 'F16': torch.float16, 'BF16': torch.bfloat16, 'I64': torch.int64,
          'I32': torch.int32, 'U8': torch.uint8, 'BOOL': torch.bool}


def load_safetensors(path):
    """8-byte little-endian header length N, N bytes of JSON header, then the raw (little-endian) data."""
    with open(path, 'rb') as f:
        raw = f.read()
    (n,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8:8 + n].decode('utf-8'))
    metadata = header.pop('__metadata__', None) or {}
    data = bytearray(raw[8 + n:])  # writable, so torch.frombuffer does not warn
    tensors = {}
    for name, info in header.items():
        begin, end = info['data_offsets']
        dtype = DTYPES[info['dtype']]
        count = (end - begin) // torch.empty(0, dtype=dtype).element_size()
        t = torch.frombuffer(data, dtype=dtype, count=count, offset=begin) if count else torch.empty(0, dtype=dtype)
        tensors[name] = t.reshape(info['shape']).clone()
    return tensors, metadata


tensors, metadata = load_safetensors(a.weights)
cfg = json.loads(metadata['bench'])
ids = tensors.pop('ids')
D, H, V = cfg['d_model'], cfg['heads'], cfg['vocab']


# Module names follow src/model/embedded/transformer.ts so that the state dict keys are the same.
class CausalSelfAttention(nn.Module):
    def __init__(s):
        super().__init__(); s.qkv = nn.Linear(D, 3 * D); s.proj = nn.Linear(D, D)
    def forward(s, x, mask):
        B, T, _ = x.shape; hd = D // H
        qkv = s.qkv(x).view(B, T, 3, H, hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        att = (q @ k.transpose(-2, -1) * (1 / math.sqrt(hd))).masked_fill(mask, float('-inf')).softmax(-1)
        return s.proj((att @ v).transpose(1, 2).reshape(B, T, D))

class FeedForward(nn.Module):
    def __init__(s):
        super().__init__(); s.fc = nn.Linear(D, cfg['mlp_ratio'] * D); s.proj = nn.Linear(cfg['mlp_ratio'] * D, D)
    def forward(s, x):
        return s.proj(F.gelu(s.fc(x), approximate='none'))  # exact (erf) GELU, as Tensor.gelu()

class Block(nn.Module):
    def __init__(s):
        super().__init__()
        s.ln1 = nn.LayerNorm(D, eps=cfg['ln_eps']); s.attn = CausalSelfAttention()
        s.ln2 = nn.LayerNorm(D, eps=cfg['ln_eps']); s.mlp = FeedForward()
    def forward(s, x, mask):
        h = x + s.attn(s.ln1(x), mask)
        return h + s.mlp(s.ln2(h))

class Transformer(nn.Module):
    def __init__(s):
        super().__init__()
        s.tokens = nn.Embedding(V, D); s.positions = nn.Embedding(cfg['seq'], D)
        s.blocks = nn.ModuleList([Block() for _ in range(cfg['layers'])])
        s.ln_final = nn.LayerNorm(D, eps=cfg['ln_eps']); s.head = nn.Linear(D, V, bias=False)
    def forward(s, ids):
        T = ids.shape[1]; mask = torch.ones(T, T, dtype=torch.bool).triu(1)
        h = s.tokens(ids) + s.positions(torch.arange(T))
        for b in s.blocks: h = b(h, mask)
        return s.head(s.ln_final(h))


model = Transformer()
model.load_state_dict(tensors, strict=True)
del tensors
opt = torch.optim.AdamW(model.parameters(), lr=cfg['lr'], betas=tuple(cfg['betas']), eps=cfg['eps'],
                        weight_decay=cfg['weight_decay'])
x, y = ids[:, :-1], ids[:, 1:].reshape(-1)

def step():
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x).reshape(-1, V), y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg['clip'])
    opt.step()
    return loss.item()

losses = [step() for _ in range(a.warmup)]
t0 = time.perf_counter()
for _ in range(a.steps): losses.append(step())
ms = (time.perf_counter() - t0) * 1000 / a.steps
print(json.dumps({'engine': 'pytorch', 'version': torch.__version__, 'threads': torch.get_num_threads(),
                  'ms_per_step': ms, 'losses': losses, 'params': sum(p.numel() for p in model.parameters()),
                  'max_rss_kb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
