"""Shared pieces of the PyTorch references for bench/learners.ts: reading the safetensors checkpoints and the
task bench/learners.ts exports (the same split and pixels Promptscope trained on), mini-CLIP's forward
(HF CLIP layout) and the CIFAR ResNet's, the cosine head, and the training loop every learner shares (as
cells/prompts/train.ts: the optimiser and schedule of the recipe, reshuffled each epoch, last partial batch
dropped when a full one exists, a hook before each epoch). Each learner's own script imports this and prints
one JSON line with `report`.

torch is imported here, after T0, so its import is part of the time a user waits for.
"""
import argparse
import json
import math
import os
import struct
import time

T0 = time.perf_counter()
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

# CLIP's pixel normalisation: the exported pixels carry it (cells/data/preprocess.ts).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def read_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        raw = f.read()
    dtypes = {'F16': torch.float16, 'F32': torch.float32, 'F64': torch.float64}
    out = {}
    for name, meta in header.items():
        if name == '__metadata__' or meta['dtype'] not in dtypes:
            continue
        a, b = meta['data_offsets']
        t = torch.frombuffer(bytearray(raw[a:b]), dtype=dtypes[meta['dtype']]).reshape(meta['shape'])
        out[name] = t.float()
    return out


def read_array(d, name, dtype, shape):
    return torch.frombuffer(bytearray(open(os.path.join(d, name), 'rb').read()), dtype=dtype).reshape(shape)


class Task:
    """The task as bench/learners.ts exported it: task.json, the splits' pixels and labels, token ids."""

    def __init__(self, d):
        self.dir = d
        self.meta = json.load(open(os.path.join(d, 'task.json')))
        self.model_dir = self.meta['modelDir']
        self.cfg = json.load(open(os.path.join(self.model_dir, 'config.json')))
        S = self.meta['imageSize']
        self.split = {}
        for name in ('train', 'val', 'test'):
            if name not in self.meta:  # a text-trained task (TaI-DPT) has no image splits
                continue
            n = self.meta[name]
            self.split[name] = (read_array(d, f'{name}.pixels.f32', torch.float32, (n, 3, S, S)),
                                read_array(d, f'{name}.labels.i32', torch.int32, (n,)).long())
        self.classes = self.meta['classes']

    def ids(self, name):
        """Token ids [rows, length] and EOT positions of one exported prompt set (see exportTask)."""
        t = self.meta['texts'][name]
        return read_array(self.dir, f'{name}.ids.i32', torch.int32, (t['rows'], t['length'])).long(), torch.tensor(t['eot'])

    def weights(self):
        return read_safetensors(os.path.join(self.model_dir, 'model.safetensors'))


class CLIP:
    """The HF CLIP forward (pre-LN blocks, quick-GELU, causal text mask) on a dict of weights."""

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

    def text_hidden(self, embeds):
        """Every position after the final LayerNorm [B, T, D] (causal: a position sees only those before it)."""
        w, c = self.w, self.cfg['text_config']
        b, t, d = embeds.shape
        x = embeds + w['text_model.embeddings.position_embedding.weight'][:t]
        mask = torch.full((t, t), float('-inf')).triu(1)
        for i in range(c['num_hidden_layers']):
            x = self.block(x, f'text_model.encoder.layers.{i}.', c['num_attention_heads'], mask)
        return F.layer_norm(x, (d,), w['text_model.final_layer_norm.weight'], w['text_model.final_layer_norm.bias'], 1e-5)

    def text(self, embeds, eot):
        x = self.text_hidden(embeds)
        return F.linear(x[torch.arange(x.shape[0]), eot], self.w['text_projection.weight'])

    def image(self, pixels, shallow=None, deep=(), before_layer=None, hidden=False):
        """Projected image features. shallow/deep: VPT tokens after CLS (deep[i] replaces them before layer
        i + 1); before_layer(i, x): a hook on each layer's input (after ln_pre at layer 0), as Pro-tuning's;
        hidden: also the last layer's output [B, T, D]."""
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
            if before_layer is not None:
                x = before_layer(i, x)
            x = self.block(x, f'vision_model.encoder.layers.{i}.', c['num_attention_heads'])
        pooled = F.layer_norm(x[:, 0], (d,), w['vision_model.post_layernorm.weight'], w['vision_model.post_layernorm.bias'], 1e-5)
        out = F.linear(pooled, w['visual_projection.weight'])
        return (out, x) if hidden else out

    def class_text(self, ids, eot, templates):
        """Frozen class text features: each template's features L2-normalised, averaged, normalised again
        (ids: the templates' prompts one after another, classes within)."""
        with torch.no_grad():
            f = F.normalize(batched(lambda r: self.text(self.token_embeddings(ids[r]), eot[r]), torch.arange(ids.shape[0]), 512), dim=-1)
            return F.normalize(f.view(templates, -1, f.shape[1]).mean(0), dim=-1)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride, eps):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout, eps=eps)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout, eps=eps)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential()
            self.shortcut.add_module('conv', nn.Conv2d(cin, cout, 1, stride, 0, bias=False))
            self.shortcut.add_module('bn', nn.BatchNorm2d(cout, eps=eps))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return F.relu(h + (x if self.shortcut is None else self.shortcut(x)))


class PromptBlock(nn.Module):
    """Pro-tuning's block as cells/prompts/prompt-block.ts builds it: channel norm, 1×1 reduce, ReLU, 3×3
    depthwise, a channel gate, 1×1 expand, scaled by β (0 at start)."""
    def __init__(self, channels, ratio):
        super().__init__()
        m = max(4, math.ceil(channels * ratio))
        self.reduce = nn.Conv2d(channels, m, 1)
        self.depthwise = nn.Conv2d(m, m, 3, 1, 1, groups=m)
        self.gate = nn.Linear(m, m)
        nn.init.zeros_(self.gate.weight)
        nn.init.zeros_(self.gate.bias)
        self.expand = nn.Conv2d(m, channels, 1)
        self.beta = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        mean = x.mean(1, keepdim=True)
        var = x.var(1, unbiased=False, keepdim=True)
        h = F.relu(self.reduce((x - mean) * torch.rsqrt(var + 1e-5)))
        h = self.depthwise(h)
        h = h * torch.sigmoid(self.gate(h.mean(dim=(2, 3))))[:, :, None, None]
        return x + self.beta * self.expand(h)


class CifarResNet(nn.Module):
    """The CIFAR ResNet of data/models/resnet-cifar10 (He et al. §4.2): module names are the checkpoint's
    tensor names, so load_state_dict reads the file as it is. Input: CLIP-normalised pixels (what the task
    carries), renormalised to the checkpoint's own mean/std as cells/model/backbone.ts does."""

    def __init__(self, cfg):
        super().__init__()
        eps = cfg.get('batch_norm_eps', 1e-5)
        e = cfg['embedding_size']
        self.stem = nn.Sequential()
        self.stem.add_module('conv', nn.Conv2d(cfg.get('num_channels', 3), e, 3, 1, 1, bias=False))
        self.stem.add_module('bn', nn.BatchNorm2d(e, eps=eps))
        stages, cin = [], e
        self.stage_channels = []
        for s, (width, depth) in enumerate(zip(cfg['hidden_sizes'], cfg['depths'])):
            self.stage_channels.append(cin)
            blocks = nn.Sequential()
            for b in range(depth):
                blocks.add_module(str(b), BasicBlock(cin, width, 2 if s > 0 and b == 0 else 1, eps))
                cin = width
            stage = nn.Module()
            stage.blocks = blocks
            stages.append(stage)
        self.stages = nn.ModuleList(stages)
        self.classifier = nn.Linear(cin, cfg['num_labels'])
        self.width = cin
        mean, std = torch.tensor(cfg['image_mean']), torch.tensor(cfg['image_std'])
        self.scale = (torch.tensor(CLIP_STD) / std).view(1, 3, 1, 1)
        self.shift = ((torch.tensor(CLIP_MEAN) - mean) / std).view(1, 3, 1, 1)

    def load(self, weights):
        # The checkpoint's classifier is [in, out] (cells/model/resnet); nn.Linear's weight is [out, in].
        w = dict(weights)
        if w['classifier.weight'].shape[0] != self.classifier.weight.shape[0]:
            w['classifier.weight'] = w['classifier.weight'].t()
        missing, unexpected = self.load_state_dict(w, strict=False)
        missing = [k for k in missing if not k.endswith('num_batches_tracked')]
        if missing or unexpected:
            raise SystemExit(f'resnet checkpoint: missing {missing}, unexpected {unexpected}')
        return self

    def pooled(self, pixels, before_stage=None):
        x = F.relu(self.stem(pixels * self.scale + self.shift))
        for s, stage in enumerate(self.stages):
            if before_stage is not None:
                x = before_stage(s, x)
            x = stage.blocks(x)
        return x.mean(dim=(2, 3))


def cosine_logits(img, txt, scale):
    return scale * F.normalize(img, dim=-1) @ F.normalize(txt, dim=-1).t()


def lr_at(epoch, epochs, o):
    """cells/prompts/optim.ts learningRate: warm-up epochs at warmupLr, then cosine per epoch or step decay."""
    if epoch < o['warmupEpochs']:
        return o['warmupLr']
    if o.get('schedule') == 'step':
        passed = sum(1 for f in o.get('milestones', []) if epoch >= math.floor(f * epochs))
        return o['lr'] * o.get('gamma', 0.1) ** passed
    return 0.5 * o['lr'] * (1 + math.cos(math.pi * epoch / epochs))


def make_optimizer(params, o):
    if o.get('optimizer') == 'adam':
        return torch.optim.Adam(params, lr=o['lr'], betas=(0.9, 0.999), eps=1e-8, weight_decay=o['weightDecay'])
    return torch.optim.SGD(params, lr=o['lr'], momentum=o['momentum'], weight_decay=o['weightDecay'])


def train(params, loss_of, n, epochs, o, seed, before_epoch=None):
    """The shared loop: loss_of(rows) is the mean cross-entropy of a batch of training rows."""
    opt = make_optimizer(params, o)
    bs = o['batchSize']
    steps = n // bs if o['dropLast'] and n >= bs else math.ceil(n / bs)
    g = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        if before_epoch is not None:
            before_epoch(epoch)
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


def start(**method):
    """The command line every learner reference shares: --task DIR (what bench/learners.ts exported),
    --method (its argparse settings are `method`), --threads; torch pinned to that many threads, then the
    phase clock started and the task opened. Returns (args, phases, task)."""
    ap = argparse.ArgumentParser()
    ap.add_argument('--task', required=True)
    ap.add_argument('--method', **method)
    ap.add_argument('--threads', type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    phases = Phases()
    return a, phases, Task(a.task)


class Phases:
    """Wall time per phase of a reference run, torch's import first."""

    def __init__(self):
        self.times = {'import': time.perf_counter() - T0}
        self.t = time.perf_counter()

    def mark(self, name):
        now = time.perf_counter()
        self.times[name] = self.times.get(name, 0) + now - self.t
        self.t = now


def emit(method, top1, steps, phases, threads, **extra):
    """The one JSON line bench/learners.ts reads: the accuracy (`top1`; mAP for a multi-label method), phases."""
    print(json.dumps({'method': method, 'top1': top1, 'steps': steps, 'phases': phases.times, 'wall': time.perf_counter() - T0,
                      'threads': threads, 'torch': torch.__version__, **extra}))


def report(method, pred, labels, steps, phases, threads, **extra):
    emit(method, (pred == labels).float().mean().item(), steps, phases, threads, **extra)
