"""Shared set-up and timing for tlbench's PyTorch peers (CPU, or CUDA with --device cuda).

The peers run PyTorch at its best configuration on this CPU: OpenBLAS's kernel
type forced (Debian's 0.3.21 misdetects recent CPUs and falls back to SSE3),
OpenMP threads that sleep rather than spin against OpenBLAS's pool, and the
thread counts pinned before torch is imported.  Each script prints one JSON line:
the median rate over timed windows after a warm-up, and the configuration it ran
under (threads, ATEN_CPU_CAPABILITY, the kernels ATen chose), which tlbench
records with the figure.
"""
import argparse
import json
import os
import statistics
import sys
import time


def args_for(description, **defaults):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--threads", type=int, default=defaults.get("threads", 2), help="intra-op and BLAS threads")
    p.add_argument("--seconds", type=float, default=5.0, help="length of one timed window")
    p.add_argument("--windows", type=int, default=3, help="timed windows; the median is reported")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds (at least 3 steps)")
    p.add_argument("--mode", choices=["train", "infer"], default="train")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="cuda: run on the GPU (eager mode, cuDNN autotuning on)")
    p.add_argument("--tf32", choices=["on", "off"], default="off",
                   help="let cuBLAS/cuDNN use TF32 tensor cores for float32 (GPU only; off matches tlbench's default)")
    return p


def best_coretype():
    """OpenBLAS's fastest correct kernel here: SkylakeX on AVX-512 CPUs (checked
    against float64 on this machine), Haswell on AVX2 ones.  TL_PEER_CORETYPE
    overrides it."""
    if os.environ.get("TL_PEER_CORETYPE"):
        return os.environ["TL_PEER_CORETYPE"]
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        flags = ""
    if " avx512f" in flags:
        return "SkylakeX"
    if " avx2" in flags:
        return "Haswell"
    return os.environ.get("OPENBLAS_CORETYPE", "Prescott")


def torch_for(a):
    """Pin the thread pools, then import torch."""
    os.environ["OPENBLAS_CORETYPE"] = best_coretype()
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[k] = str(a.threads)
    import torch
    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(a.seed)
    if a.device == "cuda":
        if not torch.cuda.is_available():
            sys.exit("peer: --device cuda but torch.cuda.is_available() is False")
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = a.tf32 == "on"
        torch.backends.cudnn.allow_tf32 = a.tf32 == "on"
        torch.set_default_device("cuda")
    return torch


def sync(a):
    """Wait for queued GPU work, so that a window's clock covers it."""
    if a.device == "cuda":
        import torch
        torch.cuda.synchronize()


def measure(a, step, items_per_step):
    """Warm up, then time a.windows windows of a.seconds; returns rates per window."""
    t0, n = time.perf_counter(), 0
    while n < 3 or time.perf_counter() - t0 < a.warmup:
        step()
        n += 1
    sync(a)
    rates = []
    cpu_rates.clear()
    for _ in range(a.windows):
        t0, c0, n = time.perf_counter(), time.process_time(), 0
        while True:
            step()
            n += 1
            if n % 8 == 0 or a.device == "cpu":
                sync(a)
                dt = time.perf_counter() - t0
                if dt >= a.seconds:
                    break
        rates.append(n * items_per_step / dt)
        cpu_rates.append(n * items_per_step / max(time.process_time() - c0, 1e-9))
    return rates


# Items per CPU-second of this process (all its threads) in each window of the
# last measure: on a loaded machine, the wall-clock rate measures the load too.
cpu_rates = []


def cpu_capability(torch):
    """The kernels ATen dispatches to ("AVX2", "AVX512", ...), as
    torch.__config__.show() says; None where it does not say."""
    show = getattr(getattr(torch, "__config__", None), "show", None)
    if show is None:
        return None
    for line in show().splitlines():
        if "CPU capability usage:" in line:
            return line.split(":", 1)[1].strip()
    return None


def report(a, torch, workload, unit, rates, **extra):
    d = {"peer": "pytorch", "torch": torch.__version__, "workload": workload, "mode": a.mode,
         "unit": unit, "median": round(statistics.median(rates), 2),
         "windows": [round(r, 2) for r in rates], "threads": a.threads,
         "aten_cpu_capability": os.environ.get("ATEN_CPU_CAPABILITY"), "cpu_capability": cpu_capability(torch),
         "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"), "device": a.device}
    if cpu_rates and a.device == "cpu":
        d["cpu_median"] = round(statistics.median(cpu_rates), 2)
    if a.device == "cuda":
        d["gpu"] = torch.cuda.get_device_name()
        d["tf32"] = a.tf32
    d.update(extra)
    sys.stdout.write(json.dumps(d) + "\n")
    sys.stdout.flush()
