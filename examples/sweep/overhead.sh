#!/bin/bash
# The paper's overhead claim, measured (issue 15): N = 1, 2, 4 trials of one
# view in parallel on one agent (tl-agent --slots N), each a train task of 2
# epochs over Fashion-MNIST's t10k (10,000 images) read from the store. For
# each N: the agent's peak RSS, and the bytes the store sent the agent
# (countproxy between them). Run from the repository root:
#   examples/sweep/overhead.sh [N ...]
set -eu
B=$(mktemp -d)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; rm -rf "$B"' EXIT
go build -o "$B/tl" ./cmd/tl
go build -o "$B/tl-agent" ./cmd/tl-agent
go build -o "$B/countproxy" ./examples/sweep/countproxy
DATA=/usr/share/datasets/fashion-mnist
for N in "${@:-1 2 4}"; do
  for n in $N; do
    H="$B/home$n"; mkdir -p "$H"
    export TL_HOME="$H" TL_NATS_URL= TL_MONGO_URL= XDG_CACHE_HOME="$H/cache"
    "$B/tl" master --nats-listen 127.0.0.1:0 --mongo-listen 127.0.0.1:0 --tick 500ms > "$H/master.log" 2>&1 &
    MP=$!; PIDS+=($MP)
    for _ in $(seq 100); do [ -f "$H/endpoints.json" ] && break; sleep 0.2; done
    "$B/tl" import idx "$DATA/t10k-images-idx3-ubyte.gz" "$DATA/t10k-labels-idx1-ubyte.gz" --tags test --define fm > /dev/null 2>&1
    NATS=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['nats'])" "$H/endpoints.json")
    MONGO=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['mongo'])" "$H/endpoints.json")
    HOSTPORT=$(python3 -c "import urllib.parse,sys;print(urllib.parse.urlparse(sys.argv[1]).netloc)" "$MONGO")
    PORT=$(python3 -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])")
    "$B/countproxy" "127.0.0.1:$PORT" "$HOSTPORT" > "$H/proxy.out" &
    PP=$!; PIDS+=($PP)
    TL_HOME=/nonexistent "$B/tl-agent" --nats "$NATS" --credentials "$H/credentials/agent.json" \
      --mongo "${MONGO/$HOSTPORT/127.0.0.1:$PORT}" --slots "$n" --id "overhead-$n" > "$H/agent.log" 2>&1 &
    AP=$!; PIDS+=($AP)
    sleep 3
    kill -USR1 $PP; sleep 0.3
    cat > "$H/sweep.yaml" <<EOS
name: overhead$n
base: {input: fm, params: {arch: mlp, epochs: 2, batch: 64}}
space: {lr: {loguniform: [0.0005, 0.005]}}
algorithm: random
trials: $n
parallel: $n
epochs: 2
metric: accuracy
EOS
    T0=$(date +%s)
    "$B/tl" sweep "$H/sweep.yaml" --wait --report-every 1h > "$H/sweep.out"
    T1=$(date +%s)
    kill -USR1 $PP; sleep 0.3
    RSS=$(awk '/^VmHWM/{print $2}' "/proc/$AP/status")
    BEFORE=$(sed -n 1p "$H/proxy.out"); AFTER=$(sed -n 2p "$H/proxy.out")
    echo "trials=$n agent_peak_rss_kB=$RSS store_to_agent_bytes=$((AFTER-BEFORE)) wall_s=$((T1-T0))"
    kill $AP $PP $MP 2>/dev/null || true
    wait $AP $MP 2>/dev/null || true
  done
done
