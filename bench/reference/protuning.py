#!/usr/bin/python3
"""PyTorch reference for bench/learners.ts: Pro-tuning and full fine-tuning, on mini-CLIP's ViT or on the
CIFAR ResNet (data/models/resnet-cifar10), as cells/prompts/protuning.ts, prompt-block.ts and finetune.ts
build them, written the way a PyTorch user would (NCHW convolutions, a grouped Conv2d for the depthwise one):
  protuning  a prompt block before every ViT layer (on the patch tokens as a grid; class token passes) or
             every ResNet stage: x + beta*Block(x), beta = 0 at the start; Block = channel normalisation per
             position (no parameters), 1x1 conv C->m + ReLU, 3x3 depthwise conv, squeeze-excitation gate
             (zero-initialised Linear m->m, sigmoid), 1x1 conv m->C; m = max(4, ceil(C * ratio));
  finetune   every weight of the image path trains (the ViT's vision tower and projection; the ResNet's
             convolutions and BatchNorm affine weights, BatchNorm on its running statistics);
both with a zero-initialised linear head on the L2-normalised pooled feature, cross-entropy, the recipe's
optimiser and schedule (common.train). Prints one JSON line: wall time split into phases, and test top-1.

  /usr/bin/python3 bench/reference/protuning.py --task DIR --method protuning --threads 1
"""

from common import CLIP, CifarResNet, F, PromptBlock, batched, nn, report, start, torch, train


def main():
    a, phases, task = start(required=True, choices=['protuning', 'finetune'])
    meta, cfg = task.meta, task.cfg
    weights = task.weights()
    cnn = cfg.get('model_type') == 'cifar-resnet'
    torch.manual_seed(meta['seed'])
    if cnn:
        net = CifarResNet(cfg).load(weights).eval()  # BatchNorm on running statistics, trained or not
        net.requires_grad_(False)
        sites, width = net.stage_channels, net.width
    else:
        clip = CLIP(weights, cfg)
        vc = cfg['vision_config']
        sites, width = [vc['hidden_size']] * vc['num_hidden_layers'], cfg['projection_dim']
        grid = vc['image_size'] // vc['patch_size']
    phases.mark('load')
    recipe = meta['recipe']
    config, optim = recipe['config'], recipe['optim']
    params = []
    hook = None
    if a.method == 'protuning':
        if config['sites'] != 'all':
            raise SystemExit("this reference writes Pro-tuning with blocks at every site (sites: 'all')")
        blocks = nn.ModuleList(PromptBlock(c, config['ratio']) for c in sites)
        params += list(blocks.parameters())
        if cnn:
            hook = lambda s, x: blocks[s](x)
        else:
            def hook(i, x):
                b, t, d = x.shape
                n = grid * grid
                patches = x[:, t - n:].transpose(1, 2).reshape(b, d, grid, grid)
                return torch.cat([x[:, :t - n], blocks[i](patches).flatten(2).transpose(1, 2)], 1)
    elif cnn:
        for name, p in net.named_parameters():
            if not name.startswith('classifier.'):
                p.requires_grad_(True)
                params.append(p)
    else:
        for name in list(clip.w):
            if name.startswith('vision_model.') or name == 'visual_projection.weight':
                clip.w[name] = clip.w[name].clone().requires_grad_(True)
                params.append(clip.w[name])
    head = nn.Linear(width, task.classes)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    params += list(head.parameters())
    encode = (lambda x: net.pooled(x, hook)) if cnn else (lambda x: clip.image(x, before_layer=hook))
    logits = lambda x: head(F.normalize(encode(x), dim=-1))
    xtr, ytr = task.split['train']
    steps = train(params, lambda r: F.cross_entropy(logits(xtr[r]), ytr[r]), xtr.shape[0], meta['epochs'], optim, meta['seed'])
    pred = batched(logits, task.split['test'][0]).argmax(-1)
    phases.mark('train+eval')
    report(a.method, pred, task.split['test'][1], steps, phases, a.threads, trainable=sum(p.numel() for p in params))


if __name__ == '__main__':
    main()
