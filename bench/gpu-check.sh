#!/usr/bin/env bash
# The GPU check (issue 7): parity of every op on the GPU against the CPU, then
# tlbench on CUDA for the Table 1 workloads, then the PyTorch peers on the same GPU.
#
#   bench/gpu-check.sh build         # here (Go, no GPU): static binaries into gpucheck/
#   bench/gpu-check.sh run [quick]   # on the GPU machine (no Go): writes $OUT, prints a table last;
#                                    # at most 540 s (give the device call timeout_s 590)
#
# WORKLOADS=word2vec,ptb-small limits tlbench's rows (a dry run on the CPU emulator:
# TL_CUDA_EMULATOR=<libtlcudaemu.so> bench/gpu-check.sh run quick).
#
# The GPU machines have CUDA (driver, cuBLAS, NVRTC) and PyTorch but no Go, so the
# binaries are built here with CGO_ENABLED=0 and travel in gpucheck/ (git-ignored;
# pass it as the device tool's carry). tlbench embeds no servers, so it stays small.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=gpucheck

case "${1:-}" in
build)
  mkdir -p "$dir"
  export CGO_ENABLED=0
  go test -c -o "$dir/parity.test" ./cuda/parity
  go test -c -o "$dir/cuda.test" ./cuda
  go build -o "$dir/tlbench" ./cmd/tlbench
  git rev-parse --short HEAD >"$dir/commit" 2>/dev/null || true
  ls -la "$dir"
  ;;
run)
  out=${OUT:-$dir/out}
  mkdir -p "$out"
  quick=${2:-}
  # Sized for one device call (600 s at most, 15 device minutes a task): about
  # 30 s a row with the peer, 10 rows.
  secs=2; windows=2
  [ "$quick" = quick ] && { secs=1; windows=1; }
  {
    echo "commit $(cat "$dir/commit" 2>/dev/null || echo ?)  date $(date -u +%FT%TZ)"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader || true
    python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' || true
  } | tee "$out/machine.txt"
  export XDG_CACHE_HOME=/tmp/tl-cache  # compiled kernels (NVRTC) and nothing else
  # The tests must run on the GPU, never fall back to the emulator (unless this is
  # a dry run with TL_CUDA_EMULATOR set).
  [ -z "${TL_CUDA_EMULATOR:-}" ] && export TL_REQUIRE_GPU=1
  echo "== parity (CPU vs GPU, every op)"
  (cd cuda/parity && timeout 120 "../../$dir/parity.test" -test.count=1 -test.v 2>&1) >"$out/parity.log" && pstat=PASS || pstat=FAIL
  grep -E '^(--- FAIL|FAIL|ok|PASS)' "$out/parity.log" | tail -20 || true
  echo "== cuda package tests"
  (cd cuda && timeout 60 "../$dir/cuda.test" -test.count=1 -test.v 2>&1) >"$out/cuda.log" && cstat=PASS || cstat=FAIL
  grep -E '^(--- FAIL|FAIL|ok|PASS)' "$out/cuda.log" | tail -10 || true
  grep -h 'TF32' "$out/parity.log" "$out/cuda.log" | grep -v '^=== ' || true  # TF32's accuracy on this card
  echo "== tlbench on CUDA with the PyTorch peers on the same GPU"
  wl=()
  [ -n "${WORKLOADS:-}" ] && wl=(--workloads "$WORKLOADS")
  timeout 360 "$dir/tlbench" --device cuda --profile 12 --peers --peers-dir bench/peers --python "$(command -v python3)" --modes train,infer "${wl[@]}" \
    --seconds "$secs" --windows "$windows" --warmup 1 --paired 4 --json >"$out/tlbench.jsonl" 2>"$out/tlbench.log" && bstat=PASS || bstat=FAIL
  tail -5 "$out/tlbench.log"
  echo
  echo "parity: $pstat   cuda tests: $cstat   tlbench: $bstat"
  python3 - "$out/tlbench.jsonl" <<'EOF' || true
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(f"{'workload':20} {'mode':5} {'graph':>12} {'layers':>12} {'pytorch':>12} {'ratio':>6}")
for r in rows:
    g, l, p = r.get("graph", 0), r.get("layers", 0), r.get("pytorch", 0)
    ratio = g / p if p else 0
    print(f"{r['workload']:20} {r['mode']:5} {g:12.0f} {l:12.0f} {p:12.0f} {ratio:6.2f}")
EOF
  ;;
*)
  echo "usage: $0 build | run [quick]" >&2
  exit 2
  ;;
esac
