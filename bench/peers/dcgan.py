#!/usr/bin/python3
"""PyTorch peer: the DCGAN of examples/dcgan at its default width (tlbench's dcgan).

Generator: z(100) -> linear 7*7*128 (no bias) -> BN, ReLU -> 5x5 transposed conv 64,
stride 2 (no bias) -> BN, ReLU -> 5x5 transposed conv 1, stride 2, tanh; discriminator:
5x5 conv 64, stride 2, leaky ReLU 0.2 -> 5x5 conv 128, stride 2 (no bias) -> BN, leaky
ReLU -> linear 1.  Weights N(0, 0.02), BN momentum 0.9 (torch: 0.1) and eps 1e-5, Adam
lr 2e-4, betas (0.5, 0.999), the non-saturating loss on logits.  One training step, as
the example's loop: a discriminator update on 64 real images and 64 generated from
fresh noise (the fakes detached), then a generator update on fresh noise.  The
discriminator's weights are frozen during the generator's update (no weight gradients
it does not need, as our engine's), and the memory format is chosen by --memory
(channels_last is fastest here on CPU).  TF's SAME padding of the stride-2 transposed
convolutions is padding 2 with output_padding 1 here: the same sizes and work, the
grid shifted by one pixel.  Inference is the generator making a batch.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerlib  # noqa: E402

p = peerlib.args_for(__doc__.splitlines()[1])
p.add_argument("--batch", type=int, default=64)
p.add_argument("--memory", choices=["channels_last", "contiguous"], default="channels_last",
               help="memory format of the images and feature maps")
p.add_argument("--freeze", choices=["on", "off"], default="on",
               help="on: no gradients for the discriminator's weights in the generator's update")
a = p.parse_args()
torch = peerlib.torch_for(a)
nn = torch.nn
mf = torch.channels_last if a.memory == "channels_last" else torch.contiguous_format


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(100, 7 * 7 * 128, bias=False)
        self.bn0 = nn.BatchNorm2d(128, eps=1e-5, momentum=0.1)
        self.up = nn.Sequential(
            nn.ConvTranspose2d(128, 64, 5, stride=2, padding=2, output_padding=1, bias=False),
            nn.BatchNorm2d(64, eps=1e-5, momentum=0.1), nn.ReLU(),
            nn.ConvTranspose2d(64, 1, 5, stride=2, padding=2, output_padding=1), nn.Tanh())

    def forward(self, z):
        h = self.fc(z).view(-1, 128, 7, 7).contiguous(memory_format=mf)
        return self.up(torch.relu(self.bn0(h)))


def discriminator():
    return nn.Sequential(
        nn.Conv2d(1, 64, 5, stride=2, padding=2), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 5, stride=2, padding=2, bias=False),
        nn.BatchNorm2d(128, eps=1e-5, momentum=0.1), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(7 * 7 * 128, 1))


def init(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)


G, D = Generator().to(memory_format=mf), discriminator().to(memory_format=mf)
G.apply(init)
D.apply(init)
optG = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999), eps=1e-8)
optD = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999), eps=1e-8)
bce = nn.BCEWithLogitsLoss()
real = (torch.rand(a.batch, 1, 28, 28) * 2 - 1).contiguous(memory_format=mf)
ones, zeros = torch.ones(a.batch, 1), torch.zeros(a.batch, 1)


def train():
    fake = G(torch.randn(a.batch, 100))
    d_loss = bce(D(real), ones) + bce(D(fake.detach()), zeros)
    optD.zero_grad(set_to_none=True)
    d_loss.backward()
    optD.step()
    if a.freeze == "on":
        D.requires_grad_(False)
    g_loss = bce(D(G(torch.randn(a.batch, 100))), ones)
    optG.zero_grad(set_to_none=True)
    g_loss.backward()
    optG.step()
    if a.freeze == "on":
        D.requires_grad_(True)


def infer():
    with torch.no_grad():
        G.eval()
        G(torch.randn(a.batch, 100))


rates = peerlib.measure(a, train if a.mode == "train" else infer, a.batch)
peerlib.report(a, torch, "dcgan", "images/s", rates, batch=a.batch, memory=a.memory, freeze=a.freeze)
