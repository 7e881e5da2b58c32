#!/usr/bin/python3
"""PyTorch reference for bench/resnet.ts: the CIFAR ResNet read from the same checkpoint folder
(config.json + model.safetensors, the layout cells/model/resnet loads), the same batch, float32, timed the
same way (best of N after a warm-up, wall clock and process CPU):

  forward    frozen backbone, BatchNorm on running statistics, no autograd: pooled features of a batch
  protuning  one training step of Pro-tuning as cells/prompts builds it: a prompt block before every stage
             (parameter-free channel normalisation, 1x1 conv C->m + ReLU, 3x3 depthwise conv, squeeze-excitation
             gate, 1x1 conv m->C; x + beta*block(x), beta = 0 at the start), a linear head on the L2-normalised
             pooled feature; backbone frozen; cross-entropy; SGD momentum 0.9, weight decay 5e-4
  finetune   one training step of full fine-tuning: every convolution and BatchNorm affine weight trains,
             BatchNorm on running statistics (as the product's fine-tuning), same head, loss and optimiser

The network is common.py's CifarResNet, the one bench/learners.ts's references use: pixels in CLIP's
normalisation mapped to the checkpoint's own, as the product's cnnBackbone does.
Each block written the way a PyTorch user would (grouped Conv2d for the depthwise convolution, NCHW).
With --convs, also each convolution of the network alone (forward, input and filter gradients), to show
where the time of a step goes. Prints one JSON object.

  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/reference/resnet_step.py --model data/models/resnet-cifar10 --threads 1
"""
import argparse
import json
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import CifarResNet, PromptBlock, read_safetensors  # the modules bench/learners.ts's references use


def head_logits(pooled, head):
    return head(F.normalize(pooled, dim=-1))


def best_of(fn, steps):
    fn()  # warm-up
    wall, cpu = [], []
    for _ in range(steps):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return {'wall': min(wall), 'cpu': min(cpu)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default='data/models/resnet-cifar10')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--steps', type=int, default=5)
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--ratio', type=float, default=0.25)
    ap.add_argument('--classes', type=int, default=10)
    ap.add_argument('--convs', default='', help='JSON list of single convolutions to time as well (bench/resnet.ts sends the network\'s own)')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with open(os.path.join(args.model, 'config.json')) as f:
        cfg = json.load(f)
    weights = read_safetensors(os.path.join(args.model, 'model.safetensors'))
    gen = torch.Generator().manual_seed(1)
    s = cfg['image_size']
    x = torch.randn(args.batch, 3, s, s, generator=gen)
    labels = torch.randint(0, args.classes, (args.batch,), generator=gen)

    def backbone():
        return CifarResNet(cfg).load(weights).eval()

    res = {'torch': torch.__version__, 'threads': args.threads, 'batch': args.batch,
           'blas': os.path.realpath('/usr/lib/x86_64-linux-gnu/libblas.so.3'), 'ms': {}}

    frozen = backbone().requires_grad_(False)

    def forward():
        with torch.no_grad():
            frozen.pooled(x)
    res['ms']['forward'] = best_of(forward, args.steps)

    # Pro-tuning: blocks before every stage and the head train; the backbone is frozen.
    torch.manual_seed(0)
    blocks = nn.ModuleList(PromptBlock(c, args.ratio) for c in frozen.stage_channels)
    head = nn.Linear(frozen.width, args.classes)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    params = list(blocks.parameters()) + list(head.parameters())
    opt = torch.optim.SGD(params, lr=0.002, momentum=0.9, weight_decay=5e-4)

    def protuning():
        opt.zero_grad(set_to_none=True)
        pooled = frozen.pooled(x, lambda s, h: blocks[s](h))
        F.cross_entropy(head_logits(pooled, head), labels).backward()
        opt.step()
    res['ms']['protuning'] = best_of(protuning, args.steps)
    res['params'] = {'protuning': sum(p.numel() for p in params)}

    # Full fine-tuning: a trainable copy (convolutions and BatchNorm affine), running statistics, new head.
    tuned = backbone()
    tuned.classifier.requires_grad_(False)
    head2 = nn.Linear(tuned.width, args.classes)
    nn.init.zeros_(head2.weight)
    nn.init.zeros_(head2.bias)
    params2 = [p for p in tuned.parameters() if p.requires_grad] + list(head2.parameters())
    opt2 = torch.optim.SGD(params2, lr=0.002, momentum=0.9, weight_decay=5e-4)

    def finetune():
        opt2.zero_grad(set_to_none=True)
        F.cross_entropy(head_logits(tuned.pooled(x), head2), labels).backward()
        opt2.step()
    res['ms']['finetune'] = best_of(finetune, args.steps)
    res['params']['finetune'] = sum(p.numel() for p in params2)
    if args.convs:
        res['convs'] = [time_conv(c, args.steps) for c in json.loads(args.convs)]
    print(json.dumps(res))


def time_conv(c, steps):
    """One convolution of the network alone: forward, input gradient and filter gradient, as autograd runs them.
    c: {batch, size, cin, cout, k, stride, groups}; NCHW, padding (k - 1) / 2, no bias."""
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(c['batch'], c['cin'], c['size'], c['size'], generator=gen)
    w = torch.randn(c['cout'], c['cin'] // c['groups'], c['k'], c['k'], generator=gen)
    pad = (c['k'] - 1) // 2
    y = F.conv2d(x, w, None, c['stride'], pad, 1, c['groups'])
    dy = torch.randn(y.shape, generator=gen)
    back = torch.ops.aten.convolution_backward

    def run(mask):
        return lambda: back(dy, x, w, None, [c['stride']] * 2, [pad] * 2, [1, 1], False, [0, 0], c['groups'], mask)
    with torch.no_grad():
        return {'forward': best_of(lambda: F.conv2d(x, w, None, c['stride'], pad, 1, c['groups']), steps),
                'dx': best_of(run([True, False, False]), steps), 'dw': best_of(run([False, True, False]), steps)}


if __name__ == '__main__':
    main()
