#!/usr/bin/python3
"""PyTorch peer: the PTB word-level LSTM of TensorFlow's 2017 ptb_word_lm.py.

small: 2 layers, hidden 200, 20 steps, batch 20, vocab 10000, no dropout.
medium: 2 layers, hidden 650, 35 steps, batch 20, keep probability 0.5.
Embedding, LSTM, a dense projection to the vocabulary, softmax cross-entropy,
gradients clipped to global norm 5, SGD lr 1.  The state is carried from one
step to the next (detached).  words/s = batch x steps per step.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerlib  # noqa: E402

p = peerlib.args_for(__doc__.splitlines()[1])
p.add_argument("--config", choices=["small", "medium"], default="small")
a = p.parse_args()
torch = peerlib.torch_for(a)
nn = torch.nn

hidden, steps, keep = {"small": (200, 20, 1.0), "medium": (650, 35, 0.5)}[a.config]
batch, vocab, layers = 20, 10000, 2


class LM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(vocab, hidden)
        self.drop = nn.Dropout(1 - keep)
        self.rnn = nn.LSTM(hidden, hidden, layers, dropout=1 - keep if keep < 1 else 0.0)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, x, state):
        h, state = self.rnn(self.drop(self.emb(x)), state)
        return self.out(self.drop(h)).view(-1, vocab), state


model = LM()
opt = torch.optim.SGD(model.parameters(), lr=1.0)
data = torch.randint(0, vocab, (steps + 1, batch))
zeros = torch.zeros(layers, batch, hidden)
st = {"state": (zeros, zeros.clone())}
loss_fn = nn.CrossEntropyLoss()
if a.mode == "infer":
    model.eval()


def train():
    h, c = st["state"]
    opt.zero_grad(set_to_none=True)
    logits, (h, c) = model(data[:-1], (h.detach(), c.detach()))
    loss = loss_fn(logits, data[1:].reshape(-1))
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 5.0)
    opt.step()
    st["state"] = (h, c)


def infer():
    with torch.no_grad():
        _, st["state"] = model(data[:-1], st["state"])


rates = peerlib.measure(a, train if a.mode == "train" else infer, batch * steps)
peerlib.report(a, torch, "ptb-" + a.config, "words/s", rates, hidden=hidden, steps=steps)
