#!/usr/bin/python3
"""PyTorch peer: the CIFAR-10 CNN of TensorFlow's 2017 cifar10.py tutorial.

24x24x3 crops, conv 5x5x64 + ReLU, max-pool 3x3/2, LRN, conv 5x5x64 + ReLU, LRN,
max-pool 3x3/2, dense 384 and 192 with ReLU, dense 10, softmax cross-entropy,
SGD lr 0.1, batch 128, synthetic data, channels-last memory (fastest here).
TF's LRN(depth_radius=4, alpha=0.001/9) is torch's LocalResponseNorm(size=9,
alpha=0.001) since torch divides alpha by size.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerlib  # noqa: E402

p = peerlib.args_for(__doc__.splitlines()[1])
p.add_argument("--batch", type=int, default=128)
p.add_argument("--lrn", choices=["on", "off"], default="on")
a = p.parse_args()
torch = peerlib.torch_for(a)
nn = torch.nn

layers = [nn.Conv2d(3, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2, padding=1)]
if a.lrn == "on":
    layers.append(nn.LocalResponseNorm(9, alpha=0.001, beta=0.75, k=1.0))
layers += [nn.Conv2d(64, 64, 5, padding=2), nn.ReLU()]
if a.lrn == "on":
    layers.append(nn.LocalResponseNorm(9, alpha=0.001, beta=0.75, k=1.0))
layers += [nn.MaxPool2d(3, 2, padding=1), nn.Flatten(),
           nn.Linear(6 * 6 * 64, 384), nn.ReLU(), nn.Linear(384, 192), nn.ReLU(), nn.Linear(192, 10)]
model = nn.Sequential(*layers).to(memory_format=torch.channels_last)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
x = torch.randn(a.batch, 3, 24, 24).to(memory_format=torch.channels_last)
y = torch.randint(0, 10, (a.batch,))
loss_fn = nn.CrossEntropyLoss()


def train():
    opt.zero_grad(set_to_none=True)
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()


def infer():
    with torch.no_grad():
        model(x)


rates = peerlib.measure(a, train if a.mode == "train" else infer, a.batch)
name = "cifar10-cnn" if a.lrn == "on" else "cifar10-cnn-nolrn"
peerlib.report(a, torch, name, "images/s", rates, batch=a.batch)
