#!/usr/bin/python3
"""PyTorch reference for bench/train.ts: the same CLIP-style towers (HF CLIP layout: pre-LN blocks,
q/k/v/out projections with eager attention, quick-GELU MLP), the same shapes, batch and float32, timed
the same way: forward, forward+backward, Adam step, whole step; plus CoOp/VPT/UPT-style prompt steps
(frozen tower, trainable prompt tokens) and the float32 matmul peak. Prints one JSON object.

Run with Debian's python3-torch (+ libopenblas0-pthread, else torch uses the slow generic BLAS):
  /usr/bin/python3 bench/reference/train_step.py --threads 2 --steps 5
"""
import argparse
import json
import os
import math
import time

import torch
import torch.nn.functional as F

TOWERS = {
    'mini-vision': dict(kind='vision', width=128, depth=4, heads=4, image=32, patch=4, classes=10),
    'mini-text': dict(kind='text', width=128, depth=3, heads=4, seq=20, vocab=49408, classes=10),
    'fixture-vision': dict(kind='vision', width=48, depth=2, heads=4, image=32, patch=8, classes=10),
    'fixture-text': dict(kind='text', width=32, depth=2, heads=4, seq=20, vocab=49408, classes=10),
}


class Block(torch.nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = torch.nn.LayerNorm(d), torch.nn.LayerNorm(d)
        self.q, self.k, self.v, self.o = (torch.nn.Linear(d, d) for _ in range(4))
        self.fc1, self.fc2 = torch.nn.Linear(d, 4 * d), torch.nn.Linear(4 * d, d)

    def attn(self, x, mask):
        b, t, d = x.shape
        h, dh = self.heads, d // self.heads
        split = lambda y: y.view(b, t, h, dh).transpose(1, 2)
        q, k, v = split(self.q(x) * dh ** -0.5), split(self.k(x)), split(self.v(x))
        s = q @ k.transpose(-1, -2)
        if mask is not None:
            s = s + mask
        ctx = (s.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d)
        return self.o(ctx)

    def forward(self, x, mask):
        x = x + self.attn(self.ln1(x), mask)
        h = self.fc1(self.ln2(x))
        return x + self.fc2(h * torch.sigmoid(1.702 * h))


class Tower(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        d = c['width']
        if c['kind'] == 'vision':
            p = c['patch']
            self.patch = torch.nn.Linear(3 * p * p, d, bias=False)
            self.cls = torch.nn.Parameter(torch.randn(d) * 0.5)
            self.pos = torch.nn.Parameter(torch.randn((c['image'] // p) ** 2 + 1, d) * 0.2)
            self.pre = torch.nn.LayerNorm(d)
        else:
            self.tok = torch.nn.Embedding(c['vocab'], d)
            self.pos = torch.nn.Parameter(torch.randn(c['seq'], d) * 0.2)
        self.blocks = torch.nn.ModuleList(Block(d, c['heads']) for _ in range(c['depth']))
        self.final = torch.nn.LayerNorm(d)
        self.head = torch.nn.Linear(d, c['classes'], bias=False)

    def forward(self, inp, prompts=None):
        c, d = self.c, self.c['width']
        b = inp.shape[0]
        if c['kind'] == 'vision':
            p, g = c['patch'], c['image'] // c['patch']
            patches = inp.view(b, 3, g, p, g, p).permute(0, 2, 4, 1, 3, 5).reshape(b, g * g, 3 * p * p)
            x = torch.cat([self.cls.expand(b, 1, d), self.patch(patches)], 1) + self.pos
            x = self.pre(x)
        else:
            x = self.tok(inp) + self.pos
        if prompts is not None:
            x = torch.cat([x[:, :1], prompts.expand(b, -1, -1), x[:, 1:]], 1)
        t = x.shape[1]
        mask = torch.full((t, t), -1e9).triu(1) if c['kind'] == 'text' else None
        for blk in self.blocks:
            x = blk(x, mask)
        x = self.final(x)
        pooled = x[:, 0] if c['kind'] == 'vision' else x[:, -1]
        return pooled

    def loss(self, inp, labels, prompts=None):
        return F.cross_entropy(self.head(self(inp, prompts)), labels)


def batch_for(c, b, gen):
    if c['kind'] == 'vision':
        inp = torch.randn(b, 3, c['image'], c['image'], generator=gen)
    else:
        inp = torch.randint(0, c['vocab'], (b, c['seq']), generator=gen)
    return inp, torch.randint(0, c['classes'], (b,), generator=gen)


def best_of(fn, steps):
    """Best wall-clock ms and best process-CPU ms (all threads) over `steps` runs after a warm-up."""
    fn()
    wall, cpu = [], []
    for _ in range(steps):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return min(wall), min(cpu)


def time_tower(name, batch, steps, prompt=None):
    """prompt: None (full training), or the number of trainable prompt tokens with a frozen tower."""
    torch.manual_seed(0)
    c = TOWERS[name]
    model = Tower(c)
    gen = torch.Generator().manual_seed(1)
    inp, labels = batch_for(c, batch, gen)
    prompts = None
    if prompt:
        model.requires_grad_(False)
        prompts = torch.nn.Parameter(torch.randn(prompt, c['width']) * 0.02)
        params = [prompts]
    else:
        params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=1e-4)

    def forward():
        with torch.enable_grad():
            model.loss(inp, labels, prompts)

    def fwd_bwd():
        opt.zero_grad(set_to_none=True)
        model.loss(inp, labels, prompts).backward()

    def opt_step():
        opt.step()

    def step():
        opt.zero_grad(set_to_none=True)
        model.loss(inp, labels, prompts).backward()
        opt.step()

    def infer():
        with torch.no_grad():
            model(inp)

    fwd_bwd()
    step_wall, step_cpu = best_of(step, steps)
    out = {'forward': best_of(forward, steps)[0], 'fwd_bwd': best_of(fwd_bwd, steps)[0],
           'opt': best_of(opt_step, steps)[0], 'step': step_wall, 'step_cpu': step_cpu, 'infer': best_of(infer, steps)[0]}
    return out


def matmul_peak(n=2048, steps=5):
    """GFLOP/s of a float32 n² matmul: by wall clock, and per core by CPU time (robust on a busy machine)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    wall, cpu = best_of(lambda: a @ b, steps)
    flops = 2 * n ** 3
    return flops / (wall / 1000) / 1e9, flops / (cpu / 1000) / 1e9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--steps', type=int, default=5)
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--towers', default=','.join(TOWERS))
    ap.add_argument('--prompt-tokens', type=int, default=4)
    ap.add_argument('--sizes', default='mini,fixture', help='sizes for the prompt steps')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    res = {'torch': torch.__version__, 'threads': args.threads, 'blas': os.path.realpath('/usr/lib/x86_64-linux-gnu/libblas.so.3'),
           'towers': {}}
    res['matmul_gflops'], res['matmul_gflops_per_core_cpu'] = matmul_peak()
    for name in args.towers.split(','):
        res['towers'][name] = time_tower(name, args.batch, args.steps)
    # Prompt steps: frozen towers, trainable prompt tokens. CoOp = context tokens in the text tower, VPT =
    # prompt tokens in the vision tower, UPT = both towers' prompts in one step.
    for size in args.sizes.split(','):
        coop = time_tower(f'{size}-text', args.batch, args.steps, args.prompt_tokens)
        vpt = time_tower(f'{size}-vision', args.batch, args.steps, args.prompt_tokens)
        res['towers'][f'{size}-coop'] = coop
        res['towers'][f'{size}-vpt'] = vpt
    print(json.dumps(res))


if __name__ == '__main__':
    main()
