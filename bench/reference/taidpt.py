#!/usr/bin/python3
"""PyTorch reference for bench/learners.ts: TaI-DPT on mini-CLIP (cells/prompts/taidpt.ts, multilabel.ts,
cells/model/dense.ts), written as the paper's code would be for this model:
  - training texts play the images: each caption's per-token features (final LayerNorm, text projection,
    normalised; positions after EOT masked) are its local features, its EOT feature its global one; frozen,
    computed once;
  - two learned contexts, global and local, 16 tokens each, N(0, 0.02^2), in the class prompt
    "[SOS] ctx... <class> . [EOS]" through the frozen text tower;
  - scores: s_glob = 4 cos(g, t_glob); s_loc = sum_l 4 S_l softmax_l(tau S_l), S_l = cos(H_l, t_loc);
    loss = rank(s_glob) + rank(s_loc), rank = mean over the batch of sum_pos sum_neg max(0, 1 - s_p + s_n);
  - the recipe's optimiser and schedule (common.train: SGD, warm-up epoch, cosine, batch 512 texts);
  - test: 2x2 mosaics of the CIFAR-10 test images, the image embedding against the global prompt and the
    last layer's patch tokens (post-LayerNorm, visual projection) against the local one, tau = 40,
    final = (1 - w) global + w local; mAP with scikit-learn's average precision (tied scores one threshold).
Prints one JSON line: wall time split into phases, and the mAP (as `top1`, the bench's accuracy column).

  /usr/bin/python3 bench/reference/taidpt.py --task DIR --threads 1
"""

from common import CLIP, F, batched, emit, read_array, start, torch, train


def local_scores(sim, mask, tau, scale=4.0):
    """sim [B, L, C] cosines; mask [B, L] 1 = valid (None: all): sum over L of scale·S·softmax(tau·S)."""
    logits = sim * tau
    if mask is not None:
        logits = logits + ((1 - mask) * -1e9)[:, :, None]
    return (sim * logits.softmax(1)).sum(1) * scale


def ranking_loss(scores, labels, margin=1.0):
    pairs = labels[:, :, None] * (1 - labels)[:, None, :]  # positive p x negative n
    return (F.relu(scores[:, None, :] - scores[:, :, None] + margin) * pairs).sum() / scores.shape[0]


def average_precision(scores, positives):
    order = torch.argsort(scores, descending=True)
    s, p = scores[order].tolist(), positives[order].tolist()
    total = sum(p)
    if total == 0:
        return float('nan')
    tp = seen = 0
    ap = prev = 0.0
    k = 0
    while k < len(s):
        v = s[k]
        while k < len(s) and s[k] == v:
            tp += p[k]
            seen += 1
            k += 1
        recall = tp / total
        ap += (recall - prev) * (tp / seen)
        prev = recall
    return ap


def main():
    a, phases, task = start(default='taidpt')
    meta, cfg = task.meta, task.cfg
    model = CLIP(task.weights(), cfg)
    C, S = task.classes, meta['imageSize']
    captions, cap_eot = task.ids('captions')
    cap_labels = read_array(a.task, 'captions.labels.u8', torch.uint8, (captions.shape[0], C)).float()
    mosaics = read_array(a.task, 'mosaics.pixels.f32', torch.float32, (meta['mosaics'], 3, S, S))
    mos_labels = read_array(a.task, 'mosaics.labels.u8', torch.uint8, (meta['mosaics'], C))
    phases.mark('load')
    torch.manual_seed(meta['seed'])
    recipe = meta['recipe']
    config, optim = recipe['config'], recipe['optim']
    proj = model.w['text_projection.weight']
    rows = torch.arange(captions.shape[0])
    with torch.no_grad():
        tokens = F.normalize(batched(lambda r: F.linear(model.text_hidden(model.token_embeddings(captions[r])), proj), rows, 256), dim=-1)
    valid = (torch.arange(captions.shape[1])[None, :] <= cap_eot[:, None]).float()
    tokens = tokens * valid[:, :, None]
    glob = tokens[rows, cap_eot]
    phases.mark('caption features')
    ids, eot = task.ids('context')
    emb = model.token_embeddings(ids)
    n = config['nCtx']
    prefix, suffix = emb[:, :1], emb[:, 1 + n:]
    d = emb.shape[2]
    ctx_g = torch.nn.Parameter(torch.randn(n, d) * config['initStd'])
    ctx_l = torch.nn.Parameter(torch.randn(n, d) * config['initStd'])

    def class_features():
        both = torch.cat([torch.cat([prefix, c.expand(C, -1, -1), suffix], 1) for c in (ctx_g, ctx_l)])
        f = F.normalize(model.text(both, torch.cat([eot, eot])), dim=-1)
        return f[:C], f[C:]

    def scores(g, H, mask, tau):
        tg, tl = class_features()
        return 4 * F.normalize(g, dim=-1) @ tg.t(), local_scores(F.normalize(H, dim=-1) @ tl.t(), mask, tau)

    def loss_of(r):
        sg, sl = scores(glob[r], tokens[r], valid[r], config['tauText'])
        return ranking_loss(sg, cap_labels[r]) + ranking_loss(sl, cap_labels[r])
    steps = train([ctx_g, ctx_l], loss_of, captions.shape[0], meta['epochs'], optim, meta['seed'])
    phases.mark('train')
    vc = cfg['vision_config']
    post = lambda x: F.linear(F.layer_norm(x, (vc['hidden_size'],), model.w['vision_model.post_layernorm.weight'], model.w['vision_model.post_layernorm.bias'], 1e-5), model.w['visual_projection.weight'])
    with torch.no_grad():
        img = []
        for i in range(0, mosaics.shape[0], 64):
            g, h = model.image(mosaics[i:i + 64], hidden=True)
            img.append((g, post(h[:, 1:])))
        g = torch.cat([x[0] for x in img])
        patches = torch.cat([x[1] for x in img])
        sg, sl = scores(g, patches, None, config['tauImage'])
        final = (1 - config['localWeight']) * sg + config['localWeight'] * sl
    aps = [average_precision(final[:, c], mos_labels[:, c].int()) for c in range(C)]
    aps = [x for x in aps if x == x]
    mAP = sum(aps) / len(aps)
    phases.mark('eval')
    emit('taidpt', mAP, steps, phases, a.threads, trainable=2 * n * d)


if __name__ == '__main__':
    main()
