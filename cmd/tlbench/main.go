// Command tlbench reproduces the TensorLayer paper's Table 1 on this machine: the
// CIFAR-10 CNN (images/s), the PTB LSTM (words/s) and word2vec (training pairs/s, and corpus words/s: half), and
// the DCGAN of examples/dcgan (images/s, one update of each network a step), each
// built with the layers API and directly on the graph (the paper's overhead
// column), side by side with PyTorch peers run in the same session.
//
//	go run ./cmd/tlbench --peers
//	go run ./cmd/tlbench --peers --peer-sweep   # each peer at its best threads and ATEN_CPU_CAPABILITY here
//	go run ./cmd/tlbench --workloads word2vec --seconds 3 --json
//	tlbench --device cuda --peers --python python3   # on a GPU machine
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tlgo/tl/bench"
	"github.com/tlgo/tl/cpu/gemm"
	"github.com/tlgo/tl/cuda"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const about = `Reproduces Table 1 of the TensorLayer paper (CIFAR-10 CNN images/s, PTB LSTM words/s,
word2vec training pairs/s and corpus words/s), with the DCGAN of examples/dcgan (images/s), on this machine: warm-up,
then timed windows, the median reported.
Each workload is timed with the layers API and directly on the graph (the overhead
column), and with --peers against PyTorch on the same machine in the same run.`

// usageError marks a usage error (unknown flag, an argument, a bad flag
// value): exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usageErrorf(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// options are tlbench's flags.
type options struct {
	workloads, modes, apis, python, peersDir, plotPath, device, cpuProfile string
	peers, peerSweep, jsonOut, tf32                                        bool
	threads, peerThreads, windows, rounds, paired, profileTop              int
	seconds, warmup, peak                                                  float64
}

// run is the whole program, so that tests can call it; it returns the exit
// code: 0, 2 for a usage error, 1 for any other.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := newCmd(stdout, stderr)
	cmd.SetArgs(cli.GoFlagStyle(cmd, args))
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "tlbench: %v\nRun 'tlbench --help' for usage.\n", err)
		return 2
	}
	fmt.Fprintln(stderr, "tlbench:", err)
	return 1
}

// newCmd builds the command; every call returns a fresh one.
func newCmd(stdout, stderr io.Writer) *cobra.Command {
	var o options
	cmd := &cobra.Command{
		Use:   "tlbench",
		Short: "the TensorLayer paper's Table 1 on this machine",
		Long:  about,
		Example: "  tlbench --peers\n  tlbench --peers --peer-sweep\n  tlbench --workloads word2vec --seconds 3 --json\n" +
			"  tlbench --device cuda --peers --python python3   # on a GPU machine",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("unexpected argument %q: tlbench takes only flags", args[0])
			}
			return nil
		},
		RunE:          func(cmd *cobra.Command, _ []string) error { return runBench(cmd.Context(), o, stdout, stderr) },
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	cmd.CompletionOptions.DisableDefaultCmd = true
	var names []string
	for _, w := range bench.Workloads() {
		names = append(names, w.Name)
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	fs.StringVar(&o.workloads, "workloads", strings.Join(names, ","), "comma-separated workloads to run: "+strings.Join(names, ", "))
	fs.StringVar(&o.modes, "modes", "train", "comma-separated modes: train, infer")
	fs.StringVar(&o.apis, "apis", "layers,graph", "implementations to time: layers (the layers API), graph (written directly on the graph)")
	fs.BoolVar(&o.peers, "peers", false, "also run the PyTorch peers (bench/peers, Debian's python3-torch), interleaved with ours, and print ratios")
	fs.StringVar(&o.python, "python", bench.DefaultPython, "the Python interpreter that runs the peers (it must import torch; on GPU machines, the python3 on PATH)")
	fs.StringVar(&o.peersDir, "peers-dir", "", "directory of the peer scripts (default: bench/peers above the working directory)")
	fs.IntVar(&o.threads, "threads", runtime.GOMAXPROCS(0), "threads for our engine and the peers (word2vec peers use 1 thread, their best here, unless --peer-threads or --peer-sweep is set)")
	fs.IntVar(&o.peerThreads, "peer-threads", 0, "threads for every peer (0: each peer's best configuration)")
	fs.BoolVar(&o.peerSweep, "peer-sweep", false, "before a workload's timed rounds, run its peer briefly (the warm-up and one window) under each configuration, threads 1..--threads (only --peer-threads when set) by ATEN_CPU_CAPABILITY unset, avx2 and avx512 (those this CPU has), log each, and time the fastest; the table notes the sweep")
	fs.Float64Var(&o.seconds, "seconds", 5, "length of one timed window in seconds")
	fs.IntVar(&o.windows, "windows", 3, "timed windows per implementation; the median is reported")
	fs.IntVar(&o.rounds, "rounds", 1, "rounds of interleaving: each round times every implementation once (windows per round)")
	fs.IntVar(&o.paired, "paired", 0, "windows of a paired measurement of the layers overhead: the layers and graph steps alternated step by step, immune to the machine's drift (0: --windows x --rounds; -1: none, the overhead then compares the two medians)")
	fs.Float64Var(&o.warmup, "warmup", 2, "warm-up seconds before timing")
	fs.BoolVar(&o.jsonOut, "json", false, "print JSON lines instead of the Markdown table")
	fs.StringVar(&o.plotPath, "plot", "", "write a PNG bar chart of the table to this file")
	fs.StringVar(&o.device, "device", "cpu", "where our engine runs: cpu, or cuda (GPU 0 through the driver, cuBLAS and NVRTC found at run time; the peers then run on the GPU too)")
	fs.BoolVar(&o.tf32, "tf32", false, "with --device cuda: let cuBLAS use TF32 tensor cores for float32 products (faster, a few 1e-4 relative error on a product; the peers get the same setting)")
	fs.IntVar(&o.profileTop, "profile", 0, "after timing a workload, run its graph step node by node (launch by launch with device timestamps under --device cuda, kernel by kernel on the CPU) and print, to stderr, where the time goes: by op type and the N slowest nodes (0: no profile)")
	fs.IntVar(&o.profileTop, "device-profile", 0, "the older name of --profile")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile (pprof) of the whole run to this file")
	fs.Float64Var(&o.peak, "peak-gflops", 0, "the CPU's float32 peak in GFLOP/s, for the % of peak column (0: measure it at start with an FMA loop on --threads threads)")
	return cmd
}

// runBench runs the benchmark o describes.
func runBench(ctx context.Context, o options, stdout, stderr io.Writer) error {
	var names []string
	for _, w := range bench.Workloads() {
		names = append(names, w.Name)
	}
	var dev graph.Device
	switch o.device {
	case "cpu":
	case "cuda":
		d, err := cuda.Open(cuda.Config{TF32: o.tf32})
		if err != nil {
			return fmt.Errorf("--device cuda: %w", err)
		}
		defer d.Close()
		dev = d
	default:
		return usageErrorf("--device %q: want cpu or cuda", o.device)
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	sel := map[string]bool{}
	for _, n := range strings.Split(o.workloads, ",") {
		sel[strings.TrimSpace(n)] = true
	}
	var chosen []bench.Workload
	for _, w := range bench.Workloads() {
		if sel[w.Name] {
			chosen = append(chosen, w)
			delete(sel, w.Name)
		}
	}
	for n := range sel {
		return usageErrorf("--workloads: unknown workload %q (have %s)", n, strings.Join(names, ", "))
	}
	useAPI := map[bench.API]bool{}
	for _, a := range strings.Split(o.apis, ",") {
		switch a = strings.TrimSpace(a); bench.API(a) {
		case bench.Layers, bench.Graph:
			useAPI[bench.API(a)] = true
		default:
			return usageErrorf("--apis: unknown api %q (layers, graph)", a)
		}
	}
	if o.threads < 1 {
		return usageErrorf("--threads %d: want at least 1", o.threads)
	}
	if o.peerSweep && !o.peers {
		return usageErrorf("--peer-sweep sweeps the PyTorch peers' configurations: it needs --peers")
	}
	// Every pool the engine starts sizes itself by GOMAXPROCS, so --threads 1
	// means one thread for every op, not only for the products.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(o.threads))
	gemm.Threads(o.threads)
	timing := bench.Timing{Warmup: secs(o.warmup), Window: secs(o.seconds), Windows: o.windows}
	dir := o.peersDir
	if o.peers {
		if dir == "" {
			var err error
			if dir, err = bench.PeersDir(); err != nil {
				return err
			}
		}
		if err := bench.CheckPyTorch(ctx, o.python); err != nil {
			return err
		}
	}
	peakHow := "given"
	if o.peak == 0 && dev == nil { // a GPU's peak is left to --peak-gflops
		var measured bool
		o.peak, measured = bench.PeakGFLOPS(o.threads)
		peakHow = "measured"
		if !measured {
			peakHow = "estimated, no FMA loop for this CPU"
		}
		log.Info("peak", "cpu", bench.CPUName(), "threads", o.threads, "gflops", fmt.Sprintf("%.0f", o.peak), "how", peakHow)
	}
	if dev != nil {
		log.Info("device", "name", dev.Name(), "tf32", o.tf32)
	}
	log.Info("tlbench", "threads", o.threads, "gemm", gemm.Default().Kernel(), "blas", gemm.Default().Backend().String(),
		"window", timing.Window, "windows", timing.Windows, "rounds", o.rounds, "peers", o.peers)

	var rows []bench.Row
	total := 0
	for range chosen {
		total += len(strings.Split(o.modes, ","))
	}
	done := 0
	start := time.Now()
	for _, w := range chosen {
		for _, mode := range strings.Split(o.modes, ",") {
			mode = strings.TrimSpace(mode)
			if mode != "train" && mode != "infer" {
				return usageErrorf("--modes: unknown mode %q (train, infer)", mode)
			}
			row := bench.Row{Workload: w.Name, Mode: mode, Unit: w.Unit, Threads: o.threads, GFLOPPerItem: w.GFLOPPerItem[mode],
				AltUnit: w.AltUnit, AltPerItem: w.AltPerItem, Rounds: o.rounds}
			steps := map[bench.API]bench.Step{}
			for _, a := range []bench.API{bench.Graph, bench.Layers} {
				if !useAPI[a] {
					continue
				}
				s, err := w.Build(a, mode, dev)
				if err != nil {
					return fmt.Errorf("%s %s (%s): %w", w.Name, mode, a, err)
				}
				steps[a] = s
			}
			runPeer := o.peers && w.Peer.Script != ""
			var peer bench.Peer
			var peerCfg bench.PeerConfig
			if runPeer {
				peer = peerFor(w, dev, o.tf32)
				var err error
				peerCfg, row.PeerSweep, err = peerConfig(ctx, log.With("workload", w.Name), o, dir, w, peer, mode, timing)
				if err != nil {
					runPeer = false
					row.PeerNote = "failed"
					log.Warn("peer failed", "workload", w.Name, "err", err)
				}
			}
			for r := 0; r < o.rounds; r++ {
				for _, a := range []bench.API{bench.Graph, bench.Layers} {
					s := steps[a]
					if s == nil {
						continue
					}
					rates, err := bench.Measure(ctx, s, w.Items, timing)
					if err != nil {
						return fmt.Errorf("%s %s (%s): %w", w.Name, mode, a, err)
					}
					if ce, ok := s.(interface{ CaptureError() error }); ok && ce.CaptureError() != nil {
						log.Warn("the device step runs launch by launch", "workload", w.Name, "api", a, "err", ce.CaptureError())
					}
					if a == bench.Graph {
						row.GraphRuns = append(row.GraphRuns, rates...)
					} else {
						row.LayersRuns = append(row.LayersRuns, rates...)
					}
					log.Info("timed", "workload", w.Name, "mode", mode, "api", a, "round", r+1, "median", fmt.Sprintf("%.1f %s", bench.Median(rates), w.Unit))
				}
				if runPeer {
					res, err := bench.RunPeer(ctx, o.python, dir, peer, mode, peerCfg, timing)
					if err != nil {
						row.PeerNote = "failed"
						log.Warn("peer failed", "workload", w.Name, "err", err)
					} else {
						row.PeerRuns = append(row.PeerRuns, res.Windows...)
						ran := res.Config()
						row.PeerConfig = &ran
						log.Info("timed", "workload", w.Name, "mode", mode, "api", "pytorch "+res.Torch, "threads", res.Threads,
							"capability", ran.CapabilityName(), "median", fmt.Sprintf("%.1f %s", res.Median, w.Unit),
							"per_cpu_second", fmt.Sprintf("%.1f", res.CPUMedian))
					}
				}
			}
			if pw := o.paired; pw >= 0 && steps[bench.Graph] != nil && steps[bench.Layers] != nil {
				if pw == 0 {
					pw = o.windows * o.rounds
				}
				pt := timing
				pt.Windows = pw
				ratios, err := bench.MeasurePaired(ctx, steps[bench.Graph], steps[bench.Layers], pt)
				if err != nil {
					return fmt.Errorf("%s %s (paired): %w", w.Name, mode, err)
				}
				row.PairedRuns = ratios
				log.Info("paired", "workload", w.Name, "mode", mode, "layers/graph step time", fmt.Sprintf("%.4f", bench.Median(ratios)), "windows", len(ratios))
			}
			if o.profileTop > 0 && steps[bench.Graph] != nil {
				if err := printProfile(stderr, steps[bench.Graph], w.Name, mode, o.profileTop); err != nil {
					log.Warn("profile failed", "workload", w.Name, "mode", mode, "err", err)
				}
			}
			for _, s := range steps {
				s.Close()
			}
			row.Graph, row.Layers, row.Peer = bench.Median(row.GraphRuns), bench.Median(row.LayersRuns), bench.Median(row.PeerRuns)
			rows = append(rows, row)
			done++
			el := time.Since(start)
			eta := time.Duration(float64(el) / float64(done) * float64(total-done))
			log.Info("progress", "done", fmt.Sprintf("%d/%d", done, total), "elapsed", el.Round(time.Second), "eta", eta.Round(time.Second))
		}
	}
	if o.jsonOut {
		if err := bench.WriteJSON(stdout, rows); err != nil {
			return err
		}
	} else {
		where := fmt.Sprintf("%s, %d threads", bench.CPUName(), o.threads)
		if dev != nil {
			where = dev.Name() + fmt.Sprintf(" (TF32 %v)", o.tf32)
		}
		fmt.Fprintf(stdout, "\n%s, %s; median of %d windows of %gs (warm-up %gs); peak %.0f GFLOP/s (%s)\n\n",
			where, time.Now().UTC().Format("2006-01-02"), o.windows*o.rounds, o.seconds, o.warmup, o.peak, peakHow)
		bench.WriteMarkdown(stdout, rows, o.peak)
	}
	if o.plotPath != "" {
		on := bench.CPUName()
		if dev != nil {
			on = dev.Name()
		}
		if err := bench.Plot(o.plotPath, rows, "tlbench: TensorLayer Table 1 on "+on); err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		log.Info("wrote plot", "path", o.plotPath)
	}
	return nil
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// peerFor is w's peer as this run starts it: under --device cuda, on the GPU
// with the run's TF32 setting.
func peerFor(w bench.Workload, dev graph.Device, tf32 bool) bench.Peer {
	peer := w.Peer
	if dev != nil {
		tf := "off"
		if tf32 {
			tf = "on"
		}
		peer.Args = append(append([]string(nil), peer.Args...), "--device", "cuda", "--tf32", tf)
	}
	return peer
}

// peerConfig picks the configuration w's peer runs its timed rounds under.
// Without --peer-sweep: --peer-threads, else the workload's PeerThreads, else
// --threads, in the environment's ATEN_CPU_CAPABILITY. With it: the fastest
// of a short run under each of threads 1..--threads (--peer-threads alone
// when set) with each ATEN_CPU_CAPABILITY this CPU can run, and the sweep's
// figures.
func peerConfig(ctx context.Context, log *slog.Logger, o options, dir string, w bench.Workload, peer bench.Peer, mode string, t bench.Timing) (bench.PeerConfig, []bench.PeerTrial, error) {
	if !o.peerSweep {
		pt := cmp.Or(o.peerThreads, w.PeerThreads, o.threads)
		return bench.PeerConfig{Threads: pt}, nil, nil
	}
	threads := []int{o.peerThreads}
	if o.peerThreads == 0 {
		threads = threads[:0]
		for n := 1; n <= o.threads; n++ {
			threads = append(threads, n)
		}
	}
	best, trials, err := bench.SweepPeer(ctx, log, o.python, dir, peer, mode, bench.PeerCandidates(threads, bench.PeerCapabilities()), t)
	if err != nil {
		return best, nil, err
	}
	log.Info("peer chosen", "mode", mode, "threads", best.Threads, "capability", best.CapabilityName())
	return best, trials, nil
}

// printProfile profiles three steps of s and prints the one of median
// time: by op type and its top slowest nodes.
func printProfile(w io.Writer, s bench.Step, workload, mode string, top int) error {
	ps, ok := s.(interface {
		Profile() (*graph.DeviceProfile, error)
	})
	if !ok {
		return fmt.Errorf("%s cannot be profiled", workload)
	}
	var profs []*graph.DeviceProfile
	for range 3 {
		p, err := ps.Profile()
		if err != nil {
			return err
		}
		profs = append(profs, p)
	}
	slices.SortFunc(profs, func(a, b *graph.DeviceProfile) int { return cmp.Compare(a.TotalMs, b.TotalMs) })
	fmt.Fprintf(w, "\n== profile: %s %s (median of 3 steps)\n", workload, mode)
	return profs[1].Write(w, top)
}
