#!/usr/bin/python3
"""A stand-in for a PyTorch peer in tlbench's tests (CI has no PyTorch).

It takes a peer's arguments and prints a peer's JSON line through peerlib.report,
with a rate that depends only on --threads and ATEN_CPU_CAPABILITY, so that a
sweep's choice is known in advance: 1 thread is twice as fast as more, and avx2
beats avx512, which beats unset (or empty).  An ATEN_CPU_CAPABILITY it does not
know fails the run.  Import it with ../torchstub on PYTHONPATH (the torch it reports).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "peers"))
import peerlib  # noqa: E402
import torch  # noqa: E402  (the stub)

a, _ = peerlib.args_for("stand-in peer").parse_known_args()
speed = {None: 1000.0, "avx2": 3000.0, "avx512": 2000.0}
cap = os.environ.get("ATEN_CPU_CAPABILITY") or None
if cap not in speed:
    sys.exit("stand-in peer: unknown ATEN_CPU_CAPABILITY %r" % cap)
rate = speed[cap] * (2 if a.threads == 1 else 1)
peerlib.report(a, torch, "stand-in", "items/s", [rate] * a.windows)
