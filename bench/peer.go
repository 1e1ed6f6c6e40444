package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/cpu"
)

// Peer is a PyTorch script under bench/peers and its arguments.
type Peer struct {
	Script string
	Args   []string
}

// PeerConfig is how a peer runs: RunPeer passes Threads as --threads (0: the
// script's default) and sets ATEN_CPU_CAPABILITY to Capability ("" leaves
// tlbench's environment as it is, normally unset: ATen then picks its own
// default, AVX2 on Zen 4 with PyTorch 1.13). A Row records the configuration
// the peer reported it ran under.
type PeerConfig struct {
	Threads    int    `json:"threads"`
	Capability string `json:"aten_cpu_capability,omitempty"`
}

// CapabilityName is Capability, or "unset".
func (c PeerConfig) CapabilityName() string {
	if c.Capability == "" {
		return "unset"
	}
	return c.Capability
}

// String says the configuration as the table's notes do: "2 threads,
// ATEN_CPU_CAPABILITY=avx512".
func (c PeerConfig) String() string {
	env := "ATEN_CPU_CAPABILITY unset"
	if c.Capability != "" {
		env = "ATEN_CPU_CAPABILITY=" + c.Capability
	}
	return plural(c.Threads, "thread") + ", " + env
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// PeerResult is what a peer script prints.
type PeerResult struct {
	Median  float64   `json:"median"`
	Windows []float64 `json:"windows"`
	Torch   string    `json:"torch"`
	Threads int       `json:"threads"`
	// CPUMedian is the median of items per CPU-second of the peer's process
	// (all its threads): on a loaded machine, less disturbed than Median.
	CPUMedian float64 `json:"cpu_median"`
	// Capability is the ATEN_CPU_CAPABILITY the peer ran under ("": unset);
	// CPUCapability names the kernels ATen used (AVX2, AVX512), where the
	// peer's PyTorch says.
	Capability    string `json:"aten_cpu_capability"`
	CPUCapability string `json:"cpu_capability"`
}

// Config is the configuration the peer reported it ran under.
func (r PeerResult) Config() PeerConfig {
	return PeerConfig{Threads: r.Threads, Capability: r.Capability}
}

// ErrNoPyTorch says the peers cannot run here.
var ErrNoPyTorch = errors.New("PyTorch is not importable (on Debian: apt-get install python3-torch)")

// DefaultPython is the interpreter the peers run with unless told otherwise:
// Debian's, which sees Debian's python3-torch (a python3 earlier on PATH may not).
// On the GPU machines the python3 on PATH has a CUDA PyTorch: pass that one.
const DefaultPython = "/usr/bin/python3"

// CheckPyTorch reports whether the peers can run with python.
func CheckPyTorch(ctx context.Context, python string) error {
	out, err := exec.CommandContext(ctx, python, "-c", "import torch; print(torch.__version__)").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w by %s: %s", ErrNoPyTorch, python, strings.TrimSpace(lastLine(string(out))))
	}
	return nil
}

// RunPeer runs one peer script from dir with python, a timing and a
// configuration. The peer must report the configuration it was given: a
// script that does not report through peerlib.report is an error, not a
// figure under an unknown configuration.
func RunPeer(ctx context.Context, python, dir string, p Peer, mode string, c PeerConfig, t Timing) (PeerResult, error) {
	args := append([]string{filepath.Join(dir, p.Script)}, p.Args...)
	args = append(args, "--mode", mode, "--seconds", fmt.Sprint(t.Window.Seconds()),
		"--windows", fmt.Sprint(t.Windows), "--warmup", fmt.Sprint(t.Warmup.Seconds()))
	if c.Threads > 0 {
		args = append(args, "--threads", fmt.Sprint(c.Threads))
	}
	cmd := exec.CommandContext(ctx, python, args...)
	cmd.Env = os.Environ()
	if c.Capability != "" {
		cmd.Env = append(cmd.Env, "ATEN_CPU_CAPABILITY="+c.Capability) // the last of a key wins
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return PeerResult{}, fmt.Errorf("bench: peer %s (%v): %w: %s", p.Script, c, err, lastLine(stderr.String()))
	}
	var r PeerResult
	if err := json.Unmarshal([]byte(lastLine(stdout.String())), &r); err != nil {
		return PeerResult{}, fmt.Errorf("bench: peer %s printed %q: %w", p.Script, lastLine(stdout.String()), err)
	}
	if (c.Threads > 0 && r.Threads != c.Threads) || (c.Capability != "" && r.Capability != c.Capability) {
		return PeerResult{}, fmt.Errorf("bench: peer %s reported %v, want %v (does it report through peerlib.report?)",
			p.Script, r.Config(), c)
	}
	return r, nil
}

// PeerTrial is one configuration's figure in a sweep.
type PeerTrial struct {
	PeerConfig
	Median float64 `json:"median"` // items/s
}

// PeerCapabilities lists the ATEN_CPU_CAPABILITY values worth sweeping on this
// CPU: "" (unset, ATen's default), avx2 where the CPU has AVX2 and FMA, and
// avx512 where it has the AVX-512 subsets ATen's AVX512 kernels need (F, BW,
// VL, DQ).
func PeerCapabilities() []string {
	caps := []string{""}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		caps = append(caps, "avx2")
	}
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512DQ {
		caps = append(caps, "avx512")
	}
	return caps
}

// PeerCandidates is every thread count with every capability.
func PeerCandidates(threads []int, caps []string) []PeerConfig {
	var cs []PeerConfig
	for _, n := range threads {
		for _, c := range caps {
			cs = append(cs, PeerConfig{Threads: n, Capability: c})
		}
	}
	return cs
}

// SweepPeer runs p briefly under each candidate (t's warm-up, then one window
// of t.Window), logs each figure to log (which names the workload), and
// returns the fastest configuration by median items/s with every trial, in the
// candidates' order. A candidate that
// fails is logged and left out; SweepPeer fails only when every one does.
func SweepPeer(ctx context.Context, log *slog.Logger, python, dir string, p Peer, mode string, cands []PeerConfig, t Timing) (PeerConfig, []PeerTrial, error) {
	t.Windows = 1
	var trials []PeerTrial
	var errs []error
	best := -1
	for _, c := range cands {
		res, err := RunPeer(ctx, python, dir, p, mode, c, t)
		if ctx.Err() != nil {
			return PeerConfig{}, nil, fmt.Errorf("bench: sweep of peer %s: %w", p.Script, ctx.Err())
		}
		if err != nil {
			log.Warn("peer sweep", "mode", mode, "threads", c.Threads, "capability", c.CapabilityName(), "err", err)
			errs = append(errs, err)
			continue
		}
		log.Info("peer sweep", "mode", mode, "threads", res.Threads, "capability", res.Config().CapabilityName(),
			"kernels", res.CPUCapability, "median", fmt.Sprintf("%.1f", res.Median), "per_cpu_second", fmt.Sprintf("%.1f", res.CPUMedian))
		if best < 0 || res.Median > trials[best].Median {
			best = len(trials)
		}
		trials = append(trials, PeerTrial{PeerConfig: res.Config(), Median: res.Median})
	}
	if best < 0 {
		return PeerConfig{}, nil, fmt.Errorf("bench: sweep of peer %s: every one of %d configurations failed: %w", p.Script, len(cands), errors.Join(errs...))
	}
	return trials[best].PeerConfig, trials, nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// PeersDir finds bench/peers from the working directory or its parents (tlbench
// runs from the repository).
func PeersDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "bench", "peers")
		if st, err := os.Stat(filepath.Join(p, "peerlib.py")); err == nil && !st.IsDir() {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("bench: bench/peers not found above the working directory: run tlbench from the repository or pass --peers-dir")
		}
		dir = parent
	}
}
