#!/usr/bin/python3
"""PyTorch reference for bench/learners.ts: one few-shot prompt learner end to end, as a researcher would
write it with the CoOp/VPT code: read mini-CLIP's safetensors, read the task (the same split and pixels
Promptscope used, exported by bench/learners.ts), extract frozen image features, train, evaluate. The
learners follow cells/prompts: class-specific CoOp (cosine logits against the text tower's prompt
features), deep VPT (prompt tokens after CLS, before ln_pre at layer 0, replaced at every later layer),
the linear probe (full-batch Adam on L2-regularised cross-entropy, every lambda at once, lambda chosen on validation).
SGD with momentum and weight decay, cosine schedule per epoch, reshuffled each epoch, last partial batch
dropped. Prints one JSON line: wall time split into phases, and test top-1.

  /usr/bin/python3 bench/reference/learner.py --task DIR --method coop --threads 2
"""
import argparse
import json
import math
import os
import struct
import time

T0 = time.perf_counter()
import torch  # noqa: E402  (imported after T0: its import is part of what the user waits for)
import torch.nn.functional as F  # noqa: E402


def read_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        raw = f.read()
    dtypes = {'F16': torch.float16, 'F32': torch.float32}
    out = {}
    for name, meta in header.items():
        if name == '__metadata__':
            continue
        a, b = meta['data_offsets']
        t = torch.frombuffer(bytearray(raw[a:b]), dtype=dtypes[meta['dtype']]).reshape(meta['shape'])
        out[name] = t.float()
    return out


def read_array(d, name, dtype, shape):
    return torch.frombuffer(bytearray(open(os.path.join(d, name), 'rb').read()), dtype=dtype).reshape(shape)


class CLIP:
    """The HF CLIP forward (pre-LN blocks, quick-GELU, causal text mask) on a dict of frozen weights."""

    def __init__(self, w, cfg):
        self.w, self.cfg = w, cfg

    def block(self, x, p, heads, mask=None):
        w = self.w
        b, t, d = x.shape
        dh = d // heads
        h = F.layer_norm(x, (d,), w[p + 'layer_norm1.weight'], w[p + 'layer_norm1.bias'], 1e-5)
        split = lambda y: y.view(b, t, heads, dh).transpose(1, 2)
        q = split(F.linear(h, w[p + 'self_attn.q_proj.weight'], w[p + 'self_attn.q_proj.bias']) * dh ** -0.5)
        k = split(F.linear(h, w[p + 'self_attn.k_proj.weight'], w[p + 'self_attn.k_proj.bias']))
        v = split(F.linear(h, w[p + 'self_attn.v_proj.weight'], w[p + 'self_attn.v_proj.bias']))
        s = q @ k.transpose(-1, -2)
        if mask is not None:
            s = s + mask
        ctx = (s.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d)
        x = x + F.linear(ctx, w[p + 'self_attn.out_proj.weight'], w[p + 'self_attn.out_proj.bias'])
        h = F.layer_norm(x, (d,), w[p + 'layer_norm2.weight'], w[p + 'layer_norm2.bias'], 1e-5)
        h = F.linear(h, w[p + 'mlp.fc1.weight'], w[p + 'mlp.fc1.bias'])
        h = h * torch.sigmoid(1.702 * h)
        return x + F.linear(h, w[p + 'mlp.fc2.weight'], w[p + 'mlp.fc2.bias'])

    def token_embeddings(self, ids):
        return self.w['text_model.embeddings.token_embedding.weight'][ids]

    def text(self, embeds, eot):
        w, c = self.w, self.cfg['text_config']
        b, t, d = embeds.shape
        x = embeds + w['text_model.embeddings.position_embedding.weight'][:t]
        mask = torch.full((t, t), float('-inf')).triu(1)
        for i in range(c['num_hidden_layers']):
            x = self.block(x, f'text_model.encoder.layers.{i}.', c['num_attention_heads'], mask)
        x = F.layer_norm(x, (d,), w['text_model.final_layer_norm.weight'], w['text_model.final_layer_norm.bias'], 1e-5)
        return F.linear(x[torch.arange(b), eot], w['text_projection.weight'])

    def image(self, pixels, shallow=None, deep=()):
        w, c = self.w, self.cfg['vision_config']
        d, ps = c['hidden_size'], c['patch_size']
        b = pixels.shape[0]
        x = F.conv2d(pixels, w['vision_model.embeddings.patch_embedding.weight'], stride=ps).flatten(2).transpose(1, 2)
        cls = w['vision_model.embeddings.class_embedding'].expand(b, 1, d)
        x = torch.cat([cls, x], 1) + w['vision_model.embeddings.position_embedding.weight']
        n = 0
        if shallow is not None:
            n = shallow.shape[0]
            x = torch.cat([x[:, :1], shallow.expand(b, n, d), x[:, 1:]], 1)
        x = F.layer_norm(x, (d,), w['vision_model.pre_layrnorm.weight'], w['vision_model.pre_layrnorm.bias'], 1e-5)
        for i in range(c['num_hidden_layers']):
            if i > 0 and i - 1 < len(deep):
                x = torch.cat([x[:, :1], deep[i - 1].expand(b, n, d), x[:, 1 + n:]], 1)
            x = self.block(x, f'vision_model.encoder.layers.{i}.', c['num_attention_heads'])
        pooled = F.layer_norm(x[:, 0], (d,), w['vision_model.post_layernorm.weight'], w['vision_model.post_layernorm.bias'], 1e-5)
        return F.linear(pooled, w['visual_projection.weight'])


def cosine_logits(img, txt, scale):
    return scale * F.normalize(img, dim=-1) @ F.normalize(txt, dim=-1).t()


def lr_at(epoch, epochs, o):
    if epoch < o['warmupEpochs']:
        return o['warmupLr']
    return 0.5 * o['lr'] * (1 + math.cos(math.pi * epoch / epochs))


def sgd_train(params, loss_of, n, epochs, o, seed):
    opt = torch.optim.SGD(params, lr=o['lr'], momentum=o['momentum'], weight_decay=o['weightDecay'])
    bs = o['batchSize']
    steps = n // bs if o['dropLast'] and n >= bs else math.ceil(n / bs)
    g = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        for group in opt.param_groups:
            group['lr'] = lr_at(epoch, epochs, o)
        order = torch.randperm(n, generator=g)
        for s in range(steps):
            rows = order[s * bs:(s + 1) * bs]
            loss = loss_of(rows)
            if not torch.isfinite(loss):
                raise SystemExit(f'loss became {loss.item()} at epoch {epoch + 1}')
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return epochs * steps


def batched(fn, x, bs=64):
    with torch.no_grad():
        return torch.cat([fn(x[i:i + bs]) for i in range(0, x.shape[0], bs)])


def linear_probe(xtr, ytr, xval, yval, lambdas, iterations):
    """Full-batch Adam (lr 0.05) on the L2-regularised cross-entropy, every lambda at once in float32, as
    cells/prompts/linearProbe.ts: the lambdas' weights side by side [L, D, C], one batched product per
    step; the chosen lambda's fit is kept (it is the refit: same split, same zero start)."""
    L, D, C = len(lambdas), xtr.shape[1], int(ytr.max()) + 1
    lam = torch.tensor(lambdas, dtype=torch.float32).view(L, 1, 1)
    W = torch.zeros(L, D, C, requires_grad=True)
    b = torch.zeros(L, 1, C, requires_grad=True)
    opt = torch.optim.Adam([W, b], lr=0.05)
    y = ytr.long().repeat(L)
    for _ in range(iterations):
        opt.zero_grad()
        z = torch.matmul(xtr.float(), W) + b  # [L, N, C]
        # Each lambda's mean cross-entropy, summed over lambdas: the gradients stay separate.
        loss = F.cross_entropy(z.reshape(-1, C), y, reduction='sum') / xtr.shape[0] + 0.5 * (lam * W * W).sum()
        loss.backward()
        opt.step()
    with torch.no_grad():
        acc = ((torch.matmul(xval.float(), W) + b).argmax(-1) == yval.view(1, -1)).float().mean(1)
    best = max(range(L), key=lambda i: (acc[i].item(), lambdas[i]))  # ties → the stronger regularisation
    return W[best].detach(), b[best, 0].detach()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--task', required=True)
    ap.add_argument('--method', required=True, choices=['coop', 'vpt', 'linear-probe'])
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    phases = {'import': time.perf_counter() - T0}
    t = time.perf_counter()
    meta = json.load(open(os.path.join(a.task, 'task.json')))
    cfg = json.load(open(os.path.join(meta['modelDir'], 'config.json')))
    model = CLIP(read_safetensors(os.path.join(meta['modelDir'], 'model.safetensors')), cfg)
    scale = model.w['logit_scale'].exp().item()
    S = meta['imageSize']
    split = {}
    for name in ('train', 'val', 'test'):
        n = meta[name]
        split[name] = (read_array(a.task, f'{name}.pixels.f32', torch.float32, (n, 3, S, S)),
                       read_array(a.task, f'{name}.labels.i32', torch.int32, (n,)).long())
    phases['load'] = time.perf_counter() - t
    torch.manual_seed(meta['seed'])
    t = time.perf_counter()
    method, recipe, epochs = a.method, meta['recipes'][a.method], meta['epochs']
    if method in ('coop', 'linear-probe'):
        # Frozen image features once, as the CoOp code's feature cache and Promptscope's imageFeatures stage.
        feats = {k: F.normalize(batched(model.image, v[0]), dim=-1) for k, v in split.items()}
        phases['features'] = time.perf_counter() - t
        t = time.perf_counter()
    steps = 0
    if method == 'coop':
        ids = read_array(a.task, 'coop.ids.i32', torch.int32, (meta['classes'], meta['coopLength'])).long()
        eot = torch.tensor(meta['coopEot'])
        m = recipe['config']['nCtx']
        with torch.no_grad():
            emb = model.token_embeddings(ids)
        prefix, suffix = emb[:, :1], emb[:, 1 + m:]
        ctx = torch.nn.Parameter(torch.randn(meta['classes'], m, emb.shape[2]) * 0.02)
        text = lambda: model.text(torch.cat([prefix, ctx, suffix], 1), eot)
        xtr, ytr = feats['train'], split['train'][1]
        steps = sgd_train([ctx], lambda r: F.cross_entropy(cosine_logits(xtr[r], text(), scale), ytr[r]), xtr.shape[0], epochs, recipe['optim'], meta['seed'])
        with torch.no_grad():
            pred = cosine_logits(feats['test'], text(), scale).argmax(-1)
    elif method == 'vpt':
        ids = read_array(a.task, 'template.ids.i32', torch.int32, (meta['classes'], meta['templateLength'])).long()
        with torch.no_grad():
            txt = model.text(model.token_embeddings(ids), torch.tensor(meta['templateEot']))
        n, d = recipe['config']['tokens'], cfg['vision_config']['hidden_size']
        ps, layers = cfg['vision_config']['patch_size'], cfg['vision_config']['num_hidden_layers']
        bound = math.sqrt(6 / (3 * ps * ps + d))
        prompts = [torch.nn.Parameter(torch.empty(n, d).uniform_(-bound, bound)) for _ in range(layers)]
        xtr, ytr = split['train']
        steps = sgd_train(prompts, lambda r: F.cross_entropy(cosine_logits(model.image(xtr[r], prompts[0], prompts[1:]), txt, scale), ytr[r]),
                          xtr.shape[0], epochs, recipe['optim'], meta['seed'])
        pred = batched(lambda x: cosine_logits(model.image(x, prompts[0], prompts[1:]), txt, scale), split['test'][0]).argmax(-1)
    else:
        W, b = linear_probe(feats['train'], split['train'][1], feats['val'], split['val'][1], meta['linearProbe']['lambdas'], meta['linearProbe']['iterations'])
        pred = (feats['test'].float() @ W + b).argmax(-1)
    phases['train+eval'] = time.perf_counter() - t
    top1 = (pred == split['test'][1]).float().mean().item()
    print(json.dumps({'method': method, 'top1': top1, 'steps': steps, 'phases': phases, 'wall': time.perf_counter() - T0, 'threads': a.threads, 'torch': torch.__version__}))


if __name__ == '__main__':
    main()
