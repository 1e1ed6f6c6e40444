package bench

import (
	"bytes"
	"context"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlgo/tl/internal/testenv"
)

// standInPeers returns python3 and bench/testdata/peers, whose word2vec.py
// stands in for a PyTorch peer (CI has no PyTorch): its rate depends only on
// --threads and ATEN_CPU_CAPABILITY (1 thread twice as fast as 2; avx2 3000,
// avx512 2000, unset 1000 items/s), and it fails under a capability it does
// not know. The torch it imports is the stub in testdata/torchstub.
func standInPeers(t *testing.T) (python, dir string) {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		testenv.Require(t, "python3 (it runs the stand-in peer)", err)
	}
	stub, err := filepath.Abs(filepath.Join("testdata", "torchstub"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PYTHONPATH", stub)
	t.Setenv("PYTHONDONTWRITEBYTECODE", "1") // no __pycache__ in the source tree
	t.Setenv("ATEN_CPU_CAPABILITY", "")      // the stand-in, like ATen, reads empty as unset
	dir, err = filepath.Abs(filepath.Join("testdata", "peers"))
	if err != nil {
		t.Fatal(err)
	}
	return python, dir
}

var standIn = Peer{Script: "word2vec.py", Args: []string{"--config", "small"}}

// The sweep runs every candidate, leaves out the ones that fail, and picks the
// fastest by median; each trial records the configuration the peer reported.
func TestSweepPeerPicksFastest(t *testing.T) {
	python, dir := standInPeers(t)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	cands := PeerCandidates([]int{1, 2}, []string{"", "avx2", "bogus", "avx512"})
	best, trials, err := SweepPeer(context.Background(), log, python, dir, standIn, "train", cands, Timing{Window: 10 * time.Millisecond, Windows: 5})
	if err != nil {
		t.Fatal(err)
	}
	if want := (PeerConfig{Threads: 1, Capability: "avx2"}); best != want {
		t.Errorf("sweep chose %v, want %v", best, want)
	}
	got := sweptNote(trials, "items/s")
	want := " (swept, items/s: 1 thread unset 2,000; 1 thread avx2 6,000; 1 thread avx512 4,000; 2 threads unset 1,000; 2 threads avx2 3,000; 2 threads avx512 2,000)"
	if got != want {
		t.Errorf("trials:\n got %s\nwant %s", got, want)
	}
	out := logs.String()
	if n := strings.Count(out, "level=WARN msg=\"peer sweep\""); n != 2 || !strings.Contains(out, "unknown ATEN_CPU_CAPABILITY 'bogus'") {
		t.Errorf("want 2 warnings for the failing capability, got %d:\n%s", n, out)
	}
	if n := strings.Count(out, "level=INFO msg=\"peer sweep\""); n != 6 || !strings.Contains(out, "threads=1 capability=avx2 kernels=AVX2 median=6000.0") {
		t.Errorf("want 6 logged trials, one of them 1 thread avx2 at 6000, got %d:\n%s", n, out)
	}

	_, _, err = SweepPeer(context.Background(), log, python, dir, standIn, "train", []PeerConfig{{1, "bogus"}}, Timing{Window: 10 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "every one of 1 configurations failed") || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("a sweep where every configuration fails: err = %v", err)
	}
}

// RunPeer sets ATEN_CPU_CAPABILITY and --threads, and the result says what the
// peer ran under; with neither set, the script's defaults.
func TestRunPeerConfig(t *testing.T) {
	python, dir := standInPeers(t)
	tm := Timing{Window: 10 * time.Millisecond, Windows: 3}
	r, err := RunPeer(context.Background(), python, dir, standIn, "infer", PeerConfig{Threads: 2, Capability: "avx512"}, tm)
	if err != nil {
		t.Fatal(err)
	}
	if r.Config() != (PeerConfig{2, "avx512"}) || r.CPUCapability != "AVX512" || r.Median != 2000 || len(r.Windows) != 3 {
		t.Errorf("RunPeer under 2 threads, avx512: %+v", r)
	}
	r, err = RunPeer(context.Background(), python, dir, standIn, "infer", PeerConfig{}, tm)
	if err != nil {
		t.Fatal(err)
	}
	if r.Config() != (PeerConfig{Threads: 2}) || r.CPUCapability != "AVX2" || r.Median != 1000 {
		t.Errorf("RunPeer with the defaults (the script's 2 threads, capability unset): %+v", r)
	}
	if _, err := RunPeer(context.Background(), python, dir, standIn, "infer", PeerConfig{Threads: 1, Capability: "bogus"}, tm); err == nil ||
		!strings.Contains(err.Error(), "1 thread, ATEN_CPU_CAPABILITY=bogus") {
		t.Errorf("a failing peer: err = %v, want one that names its configuration", err)
	}
}

// The row's peer configuration reaches the JSON and, with the sweep's
// figures, a line under the Markdown table.
func TestPeerConfigReported(t *testing.T) {
	rows := []Row{
		{Workload: "ptb-small", Mode: "train", Unit: "words/s", Graph: 8000, Peer: 6130,
			PeerConfig: &PeerConfig{Threads: 2, Capability: "avx512"},
			PeerSweep:  []PeerTrial{{PeerConfig{1, ""}, 4012}, {PeerConfig{2, "avx512"}, 6130}}},
		{Workload: "word2vec", Mode: "train", Unit: "pairs/s", Graph: 600000, Peer: 200000, PeerConfig: &PeerConfig{Threads: 1}},
		{Workload: "dcgan", Mode: "train", Unit: "images/s", Graph: 500},
	}
	var b bytes.Buffer
	WriteMarkdown(&b, rows, 0)
	md := b.String()
	wantAll(t, "Markdown", md,
		"\nPyTorch configuration: ptb-small train: 2 threads, ATEN_CPU_CAPABILITY=avx512 (swept, words/s: 1 thread unset 4,012; 2 threads avx512 6,130).",
		"\nPyTorch configuration: word2vec train: 1 thread, ATEN_CPU_CAPABILITY unset.")
	if strings.Contains(md, "configuration: dcgan") {
		t.Errorf("a row without a peer has a configuration line:\n%s", md)
	}
	b.Reset()
	if err := WriteJSON(&b, rows); err != nil {
		t.Fatal(err)
	}
	js := b.String()
	wantAll(t, "JSON", js,
		`"pytorch_config":{"threads":2,"aten_cpu_capability":"avx512"},"pytorch_sweep":[{"threads":1,"median":4012},{"threads":2,"aten_cpu_capability":"avx512","median":6130}]`,
		`"pytorch_config":{"threads":1}`)
	if strings.Count(js, "pytorch_config") != 2 {
		t.Errorf("want pytorch_config on the two rows with a peer:\n%s", js)
	}
}

func wantAll(t *testing.T, what, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("%s lacks %s:\n%s", what, w, s)
		}
	}
}

// The sweep always tries the capability unset, first, and each value once.
func TestPeerCapabilities(t *testing.T) {
	caps := PeerCapabilities()
	if len(caps) == 0 || caps[0] != "" {
		t.Fatalf("PeerCapabilities() = %q, want unset first", caps)
	}
	seen := map[string]bool{}
	for _, c := range caps {
		if seen[c] || (c != "" && c != "avx2" && c != "avx512") {
			t.Errorf("PeerCapabilities() = %q: %q repeated or unknown", caps, c)
		}
		seen[c] = true
	}
}
