"""PyTorch twin of bench/engine.ts: the same reference transformer, the same ops, the same
AdamW, so the two timings compare the cost of driving libtorch from TypeScript with driving it
from Python. Prints one JSON line."""
import argparse, json, math, time
import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument('--threads', type=int, required=True)
p.add_argument('--steps', type=int, default=30)
p.add_argument('--warmup', type=int, default=5)
p.add_argument('--vocab', type=int, default=2000)
p.add_argument('--d-model', type=int, default=192)
p.add_argument('--layers', type=int, default=4)
p.add_argument('--heads', type=int, default=4)
p.add_argument('--seq', type=int, default=64)
p.add_argument('--batch', type=int, default=16)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)

class Attention(nn.Module):
    def __init__(s):
        super().__init__(); s.qkv = nn.Linear(a.d_model, 3 * a.d_model); s.proj = nn.Linear(a.d_model, a.d_model)
    def forward(s, x, mask):
        B, T, D = x.shape; H = a.heads; hd = D // H
        qkv = s.qkv(x).view(B, T, 3, H, hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        att = (q @ k.transpose(-2, -1) * (1 / math.sqrt(hd))).masked_fill(mask, float('-inf')).softmax(-1)
        return s.proj((att @ v).transpose(1, 2).reshape(B, T, D))

class Block(nn.Module):
    def __init__(s):
        super().__init__(); s.ln1 = nn.LayerNorm(a.d_model); s.attn = Attention(); s.ln2 = nn.LayerNorm(a.d_model)
        s.fc = nn.Linear(a.d_model, 4 * a.d_model); s.out = nn.Linear(4 * a.d_model, a.d_model)
    def forward(s, x, mask):
        x = x + s.attn(s.ln1(x), mask)
        return x + s.out(F.gelu(s.fc(s.ln2(x))))

class Model(nn.Module):
    def __init__(s):
        super().__init__(); s.tok = nn.Embedding(a.vocab, a.d_model); s.pos = nn.Embedding(a.seq, a.d_model)
        s.blocks = nn.ModuleList([Block() for _ in range(a.layers)]); s.ln = nn.LayerNorm(a.d_model)
        s.head = nn.Linear(a.d_model, a.vocab, bias=False)
    def forward(s, ids):
        T = ids.shape[1]; mask = torch.ones(T, T, dtype=torch.bool).triu(1)
        h = s.tok(ids) + s.pos(torch.arange(T))
        for b in s.blocks: h = b(h, mask)
        return s.head(s.ln(h))

model = Model()
opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.01)
ids = torch.randint(0, a.vocab, (a.batch, a.seq + 1))
x, y = ids[:, :-1], ids[:, 1:]

def step():
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x).reshape(-1, a.vocab), y.reshape(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.item()

for _ in range(a.warmup): step()
t0 = time.perf_counter()
for _ in range(a.steps): loss = step()
ms = (time.perf_counter() - t0) * 1000 / a.steps
print(json.dumps({'engine': 'pytorch', 'version': torch.__version__, 'ms_per_step': ms, 'loss': loss,
                  'params': sum(p.numel() for p in model.parameters())}))
