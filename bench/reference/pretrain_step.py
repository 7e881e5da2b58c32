"""PyTorch reference for one mini-CLIP pretraining step (bench/pretrain.ts runs it).

Same shapes and loss as cells/model/pretrain: ViT (width 128, 4 layers, 4 heads, patch 8, 32x32 input,
CLS pooling) and text transformer (width 128, 3 layers, causal, length T, end-token pooling), projection
128, symmetric InfoNCE with class-aware soft targets, AdamW, gradient clipping. Random data (the cost of
a step does not depend on the values). Prints JSON: best step time in ms per thread setting.

  /usr/bin/python3 bench/reference/pretrain_step.py --batch 128 --text-len 32 --patch 8 --steps 3
"""
import argparse, json, time
import torch
import torch.nn as nn
import torch.nn.functional as F


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


def encoder(width, layers, heads):
    layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0, activation=F.gelu, batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


class MiniClip(nn.Module):
    def __init__(self, width=128, vlayers=4, tlayers=3, heads=4, patch=8, proj=128, vocab=1200, ctx=77):
        super().__init__()
        self.patch = patch
        n = (32 // patch) ** 2
        self.patch_embed = nn.Linear(3 * patch * patch, width, bias=False)
        self.cls = nn.Parameter(torch.randn(width) * 0.02)
        self.vpos = nn.Parameter(torch.randn(n + 1, width) * 0.02)
        self.ln_pre = nn.LayerNorm(width)
        self.vis = encoder(width, vlayers, heads)
        self.ln_post = nn.LayerNorm(width)
        self.vproj = nn.Linear(width, proj, bias=False)
        self.tok = nn.Embedding(vocab, width)  # the used-vocabulary subset, as in the tfjs recipe
        self.tpos = nn.Parameter(torch.randn(ctx, width) * 0.01)
        self.txt = encoder(width, tlayers, heads)
        self.ln_final = nn.LayerNorm(width)
        self.tproj = nn.Linear(width, proj, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(3.0))

    def encode_image(self, x):
        b, c, h, w = x.shape
        p = self.patch
        x = x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5).reshape(b, (h // p) * (w // p), c * p * p)
        x = self.patch_embed(x)
        x = torch.cat([self.cls.expand(b, 1, -1), x], 1) + self.vpos
        x = self.vis(self.ln_pre(x))
        return F.normalize(self.vproj(self.ln_post(x[:, 0])), dim=-1)

    def encode_text(self, ids, eot):
        t = ids.shape[1]
        x = self.tok(ids) + self.tpos[:t]
        mask = torch.triu(torch.full((t, t), float('-inf')), 1)
        x = self.ln_final(self.txt(x, mask=mask))
        return F.normalize(self.tproj(x[torch.arange(x.shape[0]), eot]), dim=-1)


def step(model, opt, pixels, ids, eot, targets):
    img = model.encode_image(pixels)
    txt = model.encode_text(ids, eot)
    logits = img @ txt.t() * model.logit_scale.exp()
    loss = 0.5 * (-(targets * F.log_softmax(logits, 1)).sum(1).mean() - (targets * F.log_softmax(logits.t(), 1)).sum(1).mean())
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--batch', type=int, default=128)
    ap.add_argument('--text-len', type=int, default=32)
    ap.add_argument('--patch', type=int, default=8)
    ap.add_argument('--steps', type=int, default=3)
    ap.add_argument('--threads', default='1,2')
    a = ap.parse_args()
    torch.manual_seed(0)
    out = {'torch': torch.__version__, 'batch': a.batch, 'textLen': a.text_len, 'patch': a.patch, 'ms': {}}
    classes = torch.randint(0, 20, (a.batch,))
    same = (classes[:, None] == classes[None, :]).float()
    targets = same / same.sum(1, keepdim=True)
    for th in [int(t) for t in a.threads.split(',')]:
        torch.set_num_threads(th)
        model = MiniClip(patch=a.patch)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1, betas=(0.9, 0.98), eps=1e-6)
        pixels = torch.randn(a.batch, 3, 32, 32)
        ids = torch.randint(0, 1200, (a.batch, a.text_len))
        eot = torch.randint(a.text_len // 2, a.text_len, (a.batch,))
        step(model, opt, pixels, ids, eot, targets)  # warm-up
        best, best_cpu = float('inf'), float('inf')
        for _ in range(a.steps):
            t0, c0 = time.perf_counter(), time.process_time()
            step(model, opt, pixels, ids, eot, targets)
            best = min(best, time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
        out['ms'][str(th)] = {'wall': 1000 * best, 'cpu': 1000 * best_cpu}
    print(json.dumps(out))


if __name__ == '__main__':
    main()
