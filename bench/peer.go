package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Peer is a PyTorch script under bench/peers and its arguments.
type Peer struct {
	Script string
	Args   []string
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

// RunPeer runs one peer script from dir with python, a timing and a thread count.
func RunPeer(ctx context.Context, python, dir string, p Peer, mode string, threads int, t Timing) (PeerResult, error) {
	args := append([]string{filepath.Join(dir, p.Script)}, p.Args...)
	args = append(args, "--mode", mode, "--seconds", fmt.Sprint(t.Window.Seconds()),
		"--windows", fmt.Sprint(t.Windows), "--warmup", fmt.Sprint(t.Warmup.Seconds()))
	if threads > 0 {
		args = append(args, "--threads", fmt.Sprint(threads))
	}
	cmd := exec.CommandContext(ctx, python, args...)
	cmd.Env = os.Environ()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return PeerResult{}, fmt.Errorf("bench: peer %s: %w: %s", p.Script, err, lastLine(stderr.String()))
	}
	var r PeerResult
	if err := json.Unmarshal([]byte(lastLine(stdout.String())), &r); err != nil {
		return PeerResult{}, fmt.Errorf("bench: peer %s printed %q: %w", p.Script, lastLine(stdout.String()), err)
	}
	return r, nil
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
