#!/usr/bin/python3
"""PyTorch reference for bench/learners.ts: visual reprogramming with an output label mapping on mini-CLIP,
as ILM-VP's code would be written for this model (cells/prompts/visual-reprogramming.ts, pixel-prompts.ts,
label-mapping.ts):
  - the frozen CLIP classifies into the 1,000 ImageNet source labels: cosine logits against the source
    names' text features (CLIP's 7 templates, each normalised, averaged, normalised);
  - ILM-VP's padding prompt: the image back in [0, 1], resized (bilinear) to the inner size, zero-padded to
    the input size, sigmoid(P) added on the border, renormalised; P starts at 0;
  - the label mapping: a [source, downstream] matrix the source logits are multiplied by; 'iterative' (ILM)
    recomputes it before every epoch from the prompted model's source argmax over the training images
    (greedy one-to-one on the counts, largest first, ties to the lowest class then source label),
    'frequency' (FLM) before the first epoch only, 'semantic' once from the cosine similarity of the
    downstream names' and the source names' text features (greedy one-to-one);
  - cross-entropy on the mapped logits, the recipe's optimiser and schedule (common.train).
Prints one JSON line: wall time split into phases, and test top-1.

  /usr/bin/python3 bench/reference/reprogramming.py --task DIR --threads 1
"""

from common import CLIP, CLIP_MEAN, CLIP_STD, F, batched, cosine_logits, report, start, torch, train


def greedy_one_to_one(scores):
    """scores [downstream, source] → mapping matrix [source, downstream], largest score first."""
    s = scores.clone().double()
    T, S = s.shape
    m = torch.zeros(S, T)
    for _ in range(T):
        k = int(torch.argmax(s))  # the first maximum in row-major order: lowest class, then lowest source
        t, j = divmod(k, S)
        m[j, t] = 1
        s[t, :] = float('-inf')
        s[:, j] = float('-inf')
    return m


class PaddingPrompt(torch.nn.Module):
    def __init__(self, size, inner):
        super().__init__()
        self.inner = inner
        self.before = (size - inner) // 2
        self.after = size - inner - self.before
        self.prompt = torch.nn.Parameter(torch.zeros(1, 3, size, size))
        mask = torch.ones(1, 1, size, size)
        mask[:, :, self.before:self.before + inner, self.before:self.before + inner] = 0
        self.register_buffer('mask', mask)
        self.mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
        self.std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)

    def forward(self, pixels):
        raw = pixels * self.std + self.mean
        small = F.interpolate(raw, size=(self.inner, self.inner), mode='bilinear', align_corners=False)
        padded = F.pad(small, (self.before, self.after, self.before, self.after))
        return (padded + torch.sigmoid(self.prompt) * self.mask - self.mean) / self.std


def main():
    a, phases, task = start(default='visual-reprogramming')
    meta, cfg = task.meta, task.cfg
    model = CLIP(task.weights(), cfg)
    scale = model.w['logit_scale'].exp().item()
    phases.mark('load')
    torch.manual_seed(meta['seed'])
    recipe = meta['recipe']
    config, optim = recipe['config'], recipe['optim']
    if config['design'] != 'padding' or config['sourceLabels'] != 'imagenet1k' or config.get('semanticPerClass', 1) != 1:
        raise SystemExit('this reference writes the padding prompt over the ImageNet-1k source labels, one-to-one mappings')
    ids, eot = task.ids('source')
    templates = meta['texts']['source']['templates']
    source_text = model.class_text(ids, eot, templates)
    phases.mark('source text')
    S = meta['imageSize']
    inner = config['innerSize'] or max(1, round(128 * S / 224))
    prompt = PaddingPrompt(S, inner)
    C, Ns = task.classes, source_text.shape[0]
    xtr, ytr = task.split['train']
    source_logits = lambda x: cosine_logits(model.image(prompt(x)), source_text, scale)
    mapping = torch.zeros(Ns, C)
    kind = config['mapping']
    if kind == 'semantic':
        ids, eot = task.ids('classes')
        down = model.class_text(ids, eot, templates)
        mapping = greedy_one_to_one(down @ source_text.t())
    elif kind == 'identity':
        mapping[torch.arange(C), torch.arange(C)] = 1
    elif kind not in ('frequency', 'iterative'):
        raise SystemExit(f'mapping {kind}: not written here')

    def before_epoch(epoch):
        if kind == 'iterative' or (kind == 'frequency' and epoch == 0):
            pred = batched(source_logits, xtr).argmax(-1)
            counts = torch.zeros(C, Ns)
            counts.index_put_((ytr, pred), torch.ones(len(pred)), accumulate=True)
            mapping.copy_(greedy_one_to_one(counts))
    steps = train([prompt.prompt], lambda r: F.cross_entropy(source_logits(xtr[r]) @ mapping, ytr[r]), xtr.shape[0],
                  meta['epochs'], optim, meta['seed'], before_epoch)
    pred = batched(lambda x: source_logits(x) @ mapping, task.split['test'][0]).argmax(-1)
    phases.mark('train+eval')
    report(a.method, pred, task.split['test'][1], steps, phases, a.threads)


if __name__ == '__main__':
    main()
