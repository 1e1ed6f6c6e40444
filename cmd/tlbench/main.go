// Command tlbench reproduces the TensorLayer paper's Table 1 on this machine: the
// CIFAR-10 CNN (images/s), the PTB LSTM (words/s) and word2vec (words/s), each
// built with the layers API and directly on the graph (the paper's overhead
// column), side by side with PyTorch peers run in the same session.
//
//	go run ./cmd/tlbench --peers
//	go run ./cmd/tlbench --workloads word2vec --seconds 3 --json
//	tlbench --device cuda --peers --python python3   # on a GPU machine
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
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

	"github.com/tlgo/tl/bench"
	"github.com/tlgo/tl/cpu/gemm"
	"github.com/tlgo/tl/cuda"
	"github.com/tlgo/tl/graph"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "tlbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tlbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var names []string
	for _, w := range bench.Workloads() {
		names = append(names, w.Name)
	}
	workloads := fs.String("workloads", strings.Join(names, ","), "comma-separated workloads to run: "+strings.Join(names, ", "))
	modes := fs.String("modes", "train", "comma-separated modes: train, infer")
	apis := fs.String("apis", "layers,graph", "implementations to time: layers (the layers API), graph (written directly on the graph)")
	peers := fs.Bool("peers", false, "also run the PyTorch peers (bench/peers, Debian's python3-torch), interleaved with ours, and print ratios")
	python := fs.String("python", bench.DefaultPython, "the Python interpreter that runs the peers (it must import torch; on GPU machines, the python3 on PATH)")
	peersDir := fs.String("peers-dir", "", "directory of the peer scripts (default: bench/peers above the working directory)")
	threads := fs.Int("threads", runtime.GOMAXPROCS(0), "threads for our engine and the peers (word2vec peers use 1 thread, their best here, unless --peer-threads is set)")
	peerThreads := fs.Int("peer-threads", 0, "threads for every peer (0: each peer's best configuration)")
	seconds := fs.Float64("seconds", 5, "length of one timed window in seconds")
	windows := fs.Int("windows", 3, "timed windows per implementation; the median is reported")
	rounds := fs.Int("rounds", 1, "rounds of interleaving: each round times every implementation once (windows per round)")
	paired := fs.Int("paired", 0, "windows of a paired measurement of the layers overhead: the layers and graph steps alternated step by step, immune to the machine's drift (0: --windows x --rounds; -1: none, the overhead then compares the two medians)")
	warmup := fs.Float64("warmup", 2, "warm-up seconds before timing")
	jsonOut := fs.Bool("json", false, "print JSON lines instead of the Markdown table")
	plotPath := fs.String("plot", "", "write a PNG bar chart of the table to this file")
	device := fs.String("device", "cpu", "where our engine runs: cpu, or cuda (GPU 0 through the driver, cuBLAS and NVRTC found at run time; the peers then run on the GPU too)")
	tf32 := fs.Bool("tf32", false, "with --device cuda: let cuBLAS use TF32 tensor cores for float32 products (faster, a few 1e-4 relative error on a product; the peers get the same setting)")
	devProfile := fs.Int("device-profile", 0, "with --device cuda: after timing a workload, run its graph step launch by launch with device timestamps and print, to stderr, where the time goes: by op type and the N slowest nodes (0: no profile)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile (pprof) of the whole run to this file")
	peak := fs.Float64("peak-gflops", 0, "the CPU's float32 peak in GFLOP/s, for the % of peak column (0: estimate from the core count and AVX-512)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: tlbench [flags]\n\n"+
			"Reproduces Table 1 of the TensorLayer paper (CIFAR-10 CNN images/s, PTB LSTM words/s,\n"+
			"word2vec words/s) on this machine: warm-up, then timed windows, the median reported.\n"+
			"Each workload is timed with the layers API and directly on the graph (the overhead\n"+
			"column), and with --peers against PyTorch on the same machine in the same run.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	var dev graph.Device
	switch *device {
	case "cpu":
	case "cuda":
		d, err := cuda.Open(cuda.Config{TF32: *tf32})
		if err != nil {
			return fmt.Errorf("--device cuda: %w", err)
		}
		defer d.Close()
		dev = d
	default:
		return fmt.Errorf("--device %q: want cpu or cuda", *device)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
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
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()

	sel := map[string]bool{}
	for _, n := range strings.Split(*workloads, ",") {
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
		return fmt.Errorf("unknown workload %q (have %s)", n, strings.Join(names, ", "))
	}
	useAPI := map[bench.API]bool{}
	for _, a := range strings.Split(*apis, ",") {
		switch a = strings.TrimSpace(a); bench.API(a) {
		case bench.Layers, bench.Graph:
			useAPI[bench.API(a)] = true
		default:
			return fmt.Errorf("unknown api %q (layers, graph)", a)
		}
	}
	gemm.Threads(*threads)
	timing := bench.Timing{Warmup: secs(*warmup), Window: secs(*seconds), Windows: *windows}
	dir := *peersDir
	if *peers {
		if dir == "" {
			var err error
			if dir, err = bench.PeersDir(); err != nil {
				return err
			}
		}
		if err := bench.CheckPyTorch(ctx, *python); err != nil {
			return err
		}
	}
	if *peak == 0 && dev == nil { // a GPU's peak is left to --peak-gflops
		*peak = bench.EstimatePeakGFLOPS(*threads)
	}
	if dev != nil {
		log.Info("device", "name", dev.Name(), "tf32", *tf32)
	}
	log.Info("tlbench", "threads", *threads, "gemm", gemm.Default().Kernel(), "blas", gemm.Default().Backend().String(),
		"window", timing.Window, "windows", timing.Windows, "rounds", *rounds, "peers", *peers)

	var rows []bench.Row
	total := 0
	for range chosen {
		total += len(strings.Split(*modes, ","))
	}
	done := 0
	start := time.Now()
	for _, w := range chosen {
		for _, mode := range strings.Split(*modes, ",") {
			mode = strings.TrimSpace(mode)
			if mode != "train" && mode != "infer" {
				return fmt.Errorf("unknown mode %q (train, infer)", mode)
			}
			row := bench.Row{Workload: w.Name, Mode: mode, Unit: w.Unit, Threads: *threads, GFLOPPerItem: w.GFLOPPerItem[mode]}
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
			for r := 0; r < *rounds; r++ {
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
				if *peers && w.Peer.Script != "" {
					pt := *peerThreads
					if pt == 0 {
						pt = w.PeerThreads
						if pt == 0 {
							pt = *threads
						}
					}
					peer := w.Peer
					if dev != nil {
						tf := "off"
						if *tf32 {
							tf = "on"
						}
						peer.Args = append(append([]string(nil), peer.Args...), "--device", "cuda", "--tf32", tf)
					}
					res, err := bench.RunPeer(ctx, *python, dir, peer, mode, pt, timing)
					if err != nil {
						row.PeerNote = "failed"
						log.Warn("peer failed", "workload", w.Name, "err", err)
					} else {
						row.PeerRuns = append(row.PeerRuns, res.Windows...)
						log.Info("timed", "workload", w.Name, "mode", mode, "api", "pytorch "+res.Torch, "threads", res.Threads, "median", fmt.Sprintf("%.1f %s", res.Median, w.Unit))
					}
				}
			}
			if pw := *paired; pw >= 0 && steps[bench.Graph] != nil && steps[bench.Layers] != nil {
				if pw == 0 {
					pw = *windows * *rounds
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
			if *devProfile > 0 && dev != nil && steps[bench.Graph] != nil {
				if err := deviceProfile(stderr, steps[bench.Graph], w.Name, mode, *devProfile); err != nil {
					log.Warn("device profile failed", "workload", w.Name, "mode", mode, "err", err)
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
	if *jsonOut {
		if err := bench.WriteJSON(stdout, rows); err != nil {
			return err
		}
	} else {
		where := fmt.Sprintf("%s, %d threads", bench.CPUName(), *threads)
		if dev != nil {
			where = dev.Name() + fmt.Sprintf(" (TF32 %v)", *tf32)
		}
		fmt.Fprintf(stdout, "\n%s, %s; median of %d windows of %gs (warm-up %gs); peak %.0f GFLOP/s\n\n",
			where, time.Now().UTC().Format("2006-01-02"), *windows**rounds, *seconds, *warmup, *peak)
		bench.WriteMarkdown(stdout, rows, *peak)
	}
	if *plotPath != "" {
		on := bench.CPUName()
		if dev != nil {
			on = dev.Name()
		}
		if err := bench.Plot(*plotPath, rows, "tlbench: TensorLayer Table 1 on "+on); err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		log.Info("wrote plot", "path", *plotPath)
	}
	return nil
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// deviceProfile profiles three steps of s and prints the one of median device
// time: by op type and its top slowest nodes.
func deviceProfile(w io.Writer, s bench.Step, workload, mode string, top int) error {
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
	fmt.Fprintf(w, "\n== device profile: %s %s (median of 3 steps)\n", workload, mode)
	return profs[1].Write(w, top)
}
