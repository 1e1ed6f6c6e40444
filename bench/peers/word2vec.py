#!/usr/bin/python3
"""PyTorch peer: skip-gram word2vec with NCE, as TensorFlow's word2vec_basic.py.

Vocabulary 50000, embedding 128, batch 128 (skip_window 1, num_skips 2), NCE with
64 negatives from the log-uniform sampler (drawn with replacement), logits
corrected by -log(expected count), sparse gradients, SGD lr 1.0.  Synthetic
Zipf-distributed word ids.  words/s = examples per second.
"""
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerlib  # noqa: E402

p = peerlib.args_for(__doc__.splitlines()[1], threads=1)
a = p.parse_args()
torch = peerlib.torch_for(a)
F = torch.nn.functional

V, D, B, S = 50000, 128, 128, 64
logv = math.log(V + 1.0)


def zipf(n):
    u = torch.rand(n, dtype=torch.float64)
    return (torch.exp(u * logv).long() - 1).clamp_(0, V - 1)


def log_q(ids, tries):
    k = ids.double()
    return torch.log(tries * torch.log((k + 2) / (k + 1)) / logv).float()


corpus = zipf(1_000_000)
emb = torch.empty(V, D).uniform_(-1, 1).requires_grad_()
w = (torch.randn(V, D) / math.sqrt(D)).clamp_(-2 / math.sqrt(D), 2 / math.sqrt(D)).requires_grad_()
bias = torch.zeros(V, 1, requires_grad=True)
opt = torch.optim.SGD([emb, w, bias], lr=1.0)
half = B // 2
ar = torch.arange(half)
pos = [0]


def train():
    i = pos[0] if pos[0] + half + 2 < corpus.numel() else 0
    pos[0] = i + half
    centre = corpus[i + 1 + ar].repeat_interleave(2)
    ctx = torch.stack((corpus[i + ar], corpus[i + 2 + ar]), 1).reshape(-1)
    neg = zipf(S)
    x = F.embedding(centre, emb, sparse=True)
    t_logit = (x * F.embedding(ctx, w, sparse=True)).sum(1) + F.embedding(ctx, bias, sparse=True).squeeze(1) - log_q(ctx, S)
    s_logit = x @ F.embedding(neg, w, sparse=True).t() + F.embedding(neg, bias, sparse=True).squeeze(1) - log_q(neg, S)
    loss = (F.binary_cross_entropy_with_logits(t_logit, torch.ones_like(t_logit), reduction="sum")
            + F.binary_cross_entropy_with_logits(s_logit, torch.zeros_like(s_logit), reduction="sum")) / B
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


rates = peerlib.measure(a, train, B)
peerlib.report(a, torch, "word2vec", "words/s", rates)
