"""A stub of torch for tlbench's tests (CI has no PyTorch): what CheckPyTorch and
peerlib.report read of it."""
import os

__version__ = "0.0+stand-in"


class __config__:
    @staticmethod
    def show():
        cap = os.environ.get("ATEN_CPU_CAPABILITY") or "avx2"
        return "PyTorch built with:\n  - CPU capability usage: %s\n" % cap.upper()
