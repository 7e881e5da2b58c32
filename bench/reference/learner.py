#!/usr/bin/python3
"""PyTorch reference for bench/learners.ts: one few-shot prompt learner on mini-CLIP end to end, as a
researcher would write it with the CoOp/VPT/UPT code: read the safetensors, read the task (the same split and
pixels Promptscope used, exported by bench/learners.ts), extract frozen image features, train, evaluate. The
learners follow cells/prompts:
  coop          class-specific CoOp (cosine logits against the text tower's prompt features);
  vpt           deep VPT (prompt tokens after CLS, before ln_pre at layer 0, replaced at every later layer);
  upt           UPT: a unified prompt of 2n tokens (N(0, 1)) through nn.TransformerEncoderLayer (1 head,
                FFN width, ReLU, dropout 0.1, post-norm, the tokens attend to each other); the first n are the
                text context (class token at the end) scaled to the RMS of the words "a photo of a", the last
                n pass a Linear to the vision width and are shallow visual prompts;
  linear-probe  full-batch Adam on L2-regularised cross-entropy, every lambda at once, lambda chosen on validation.
The optimiser and schedule are the recipe's (common.train). Prints one JSON line: wall time split into
phases, and test top-1.

  /usr/bin/python3 bench/reference/learner.py --task DIR --method coop --threads 1
"""
import math

from common import CLIP, F, batched, cosine_logits, report, start, torch, train


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


class UnifiedPrompt(torch.nn.Module):
    """UPT's prompt generator: the unified prompt through one post-norm encoder layer, split in two."""

    def __init__(self, n, text_width, vision_width, dropout, init_std, text_scale):
        super().__init__()
        self.n, self.text_scale = n, text_scale
        self.unified = torch.nn.Parameter(torch.randn(2 * n, text_width) * init_std)
        self.layer = torch.nn.TransformerEncoderLayer(text_width, 1, dim_feedforward=text_width, dropout=dropout, batch_first=True)
        # Dropout after attention and in the FFN, as cells/prompts/upt.ts; not on the attention weights
        # (nn.MultiheadAttention's own dropout), which Promptscope's layer does not have.
        self.layer.self_attn.dropout = 0.0
        self.to_vision = torch.nn.Linear(text_width, vision_width)

    def forward(self):
        out = self.layer(self.unified[None])[0]
        return out[:self.n] * self.text_scale, self.to_vision(out[self.n:])


def main():
    a, phases, task = start(required=True, choices=['coop', 'vpt', 'upt', 'linear-probe'])
    meta, cfg = task.meta, task.cfg
    model = CLIP(task.weights(), cfg)
    scale = model.w['logit_scale'].exp().item()
    split = task.split
    phases.mark('load')
    torch.manual_seed(meta['seed'])
    method, recipe, epochs = a.method, meta['recipe'], meta['epochs']
    config, optim = recipe['config'], recipe['optim']
    if method in ('coop', 'linear-probe'):
        # Frozen image features once, as the CoOp code's feature cache and Promptscope's imageFeatures stage.
        feats = {k: F.normalize(batched(model.image, v[0]), dim=-1) for k, v in split.items()}
        phases.mark('features')
    steps = 0
    if method in ('coop', 'upt'):
        ids, eot = task.ids('context')
        with torch.no_grad():
            emb = model.token_embeddings(ids)
        n = config['nCtx'] if method == 'coop' else config['n']
        prefix, suffix = emb[:, :1], emb[:, 1 + n:]
        text = lambda ctx: model.text(torch.cat([prefix, ctx.expand(emb.shape[0], -1, -1), suffix], 1), eot)
    if method == 'coop':
        ctx = torch.nn.Parameter(torch.randn(task.classes, n, emb.shape[2]) * 0.02)
        xtr, ytr = feats['train'], split['train'][1]
        steps = train([ctx], lambda r: F.cross_entropy(cosine_logits(xtr[r], text(ctx), scale), ytr[r]), xtr.shape[0], epochs, optim, meta['seed'])
        with torch.no_grad():
            pred = cosine_logits(feats['test'], text(ctx), scale).argmax(-1)
    elif method == 'upt':
        if config['variant'] != 'upt' or config['releasedQuirk']:
            raise SystemExit('this reference writes UPT with token mixing (variant upt, releasedQuirk false)')
        words, _ = task.ids('words')
        text_scale = model.token_embeddings(words[0]).pow(2).mean().sqrt().item() if config['matchTextScale'] else 1.0
        upt = UnifiedPrompt(n, cfg['text_config']['hidden_size'], cfg['vision_config']['hidden_size'], config['dropout'], config['initStd'], text_scale)
        xtr, ytr = split['train']

        def loss_of(r):
            ctx, shallow = upt()
            return F.cross_entropy(cosine_logits(model.image(xtr[r], shallow), text(ctx), scale), ytr[r])
        upt.train()
        steps = train(list(upt.parameters()), loss_of, xtr.shape[0], epochs, optim, meta['seed'])
        upt.eval()
        with torch.no_grad():
            ctx, shallow = upt()
            txt = text(ctx)
        pred = batched(lambda x: cosine_logits(model.image(x, shallow), txt, scale), split['test'][0]).argmax(-1)
    elif method == 'vpt':
        ids, eot = task.ids('template')
        with torch.no_grad():
            txt = model.text(model.token_embeddings(ids), eot)
        n, d = config['tokens'], cfg['vision_config']['hidden_size']
        ps, layers = cfg['vision_config']['patch_size'], cfg['vision_config']['num_hidden_layers']
        bound = math.sqrt(6 / (3 * ps * ps + d))
        prompts = [torch.nn.Parameter(torch.empty(n, d).uniform_(-bound, bound)) for _ in range(layers)]
        xtr, ytr = split['train']
        steps = train(prompts, lambda r: F.cross_entropy(cosine_logits(model.image(xtr[r], prompts[0], prompts[1:]), txt, scale), ytr[r]),
                      xtr.shape[0], epochs, optim, meta['seed'])
        pred = batched(lambda x: cosine_logits(model.image(x, prompts[0], prompts[1:]), txt, scale), split['test'][0]).argmax(-1)
    else:
        W, b = linear_probe(feats['train'], split['train'][1], feats['val'], split['val'][1], config['lambdas'], config['iterations'])
        pred = (feats['test'].float() @ W + b).argmax(-1)
    phases.mark('train+eval')
    report(method, pred, split['test'][1], steps, phases, a.threads)


if __name__ == '__main__':
    main()
