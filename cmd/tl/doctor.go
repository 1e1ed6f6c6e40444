package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"runtime"
	"strings"

	"github.com/spf13/cobra"
	"github.com/tlgo/tl/bench"
	"github.com/tlgo/tl/cpu/gemm"
	"github.com/tlgo/tl/cpu/peak"
	"github.com/tlgo/tl/cuda"
	"github.com/tlgo/tl/kernels"
)

// report is what `tl doctor` finds.
type report struct {
	Go         string `json:"go"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	GEMMKernel string `json:"gemm_kernel"`
	// PeakGFLOPS is the float32 FMA peak measured on one thread and on all
	// cores (package cpu/peak); empty where no FMA loop runs here.
	PeakGFLOPS map[string]float64 `json:"peak_gflops,omitempty"`
	GHz        float64            `json:"ghz,omitempty"`
	BLAS       string             `json:"blas"`
	CoreType   string             `json:"openblas_coretype,omitempty"`
	// OpenBLAS is the library loaded (its path), or empty with
	// OpenBLASError saying why it is not usable.
	OpenBLAS      string `json:"openblas,omitempty"`
	OpenBLASCore  string `json:"openblas_core,omitempty"` // the kernel OpenBLAS runs, e.g. SkylakeX
	OpenBLASError string `json:"openblas_error,omitempty"`
	OpenBLASUsed  bool   `json:"openblas_used"` // the default engine multiplies with it

	GPU         string  `json:"gpu,omitempty"`
	GPUError    string  `json:"gpu_error,omitempty"`
	Emulated    bool    `json:"emulated,omitempty"`
	Driver      string  `json:"driver,omitempty"`
	DriverVer   int     `json:"driver_version,omitempty"`
	MemoryGiB   float64 `json:"memory_gib,omitempty"`
	CUBLAS      int     `json:"cublas_version,omitempty"`
	NVRTC       string  `json:"nvrtc,omitempty"`
	NVRTCError  string  `json:"nvrtc_error,omitempty"`
	KernelCache string  `json:"kernel_cache,omitempty"`
	KernelsHash string  `json:"kernels"`
	Compiled    string  `json:"compiled,omitempty"` // --compile: the kernel set for that architecture
	CompileErr  string  `json:"compile_error,omitempty"`
	Queues      string  `json:"agent_queues"`
}

func newDoctorCmd(stdout, _ io.Writer) *cobra.Command {
	var (
		asJSON  bool
		compile string
	)
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "report the CPU kernels, OpenBLAS, the GPU (or why none), NVRTC",
		Long: `Reports what this machine offers the library: the CPU and its matrix kernel,
whether OpenBLAS is usable (and which kernel it runs, or why it is not), the
NVIDIA driver and GPU (or why none was found), cuBLAS, NVRTC (or why it does
not load) and the kernel cache, and the queues an agent started here would
serve. Use it on a new node before starting tl-agent.`,
		Args: nargs(0, 0),
		RunE: func(*cobra.Command, []string) error { return doctor(asJSON, compile, stdout) },
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().StringVar(&compile, "compile", "", "also compile the CUDA kernel set with NVRTC for this architecture (sm_90, ...), GPU or not")
	return cmd
}

func doctor(asJSON bool, compile string, stdout io.Writer) error {
	// The libraries are opened with dlopen, whose reason for a failure
	// (dlerror) is kept per thread: a goroutine that moved to another thread
	// in between reads an empty reason. Stay on one thread while probing.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r := report{Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, CPU: bench.CPUName(),
		Cores: runtime.NumCPU(), GEMMKernel: gemm.Default().Kernel(), BLAS: gemm.Default().Backend().String(),
		CoreType: os.Getenv("OPENBLAS_CORETYPE"), KernelsHash: kernels.Hash(), Queues: "cpu"}
	for _, threads := range []int{1, r.Cores} {
		if res, err := peak.Measure(threads, peak.Options{}); err == nil {
			if r.PeakGFLOPS == nil {
				r.PeakGFLOPS = map[string]float64{}
			}
			for _, m := range res {
				r.PeakGFLOPS[fmt.Sprintf("%s/%d", m.ISA, threads)] = math.Round(m.GFLOPS)
				r.GHz = math.Round(m.GHz*100) / 100
			}
		}
	}
	if info := gemm.OpenBLASInfo(); info.Loaded {
		r.OpenBLAS, r.OpenBLASCore = info.Path, info.CoreName
		r.OpenBLASUsed = gemm.Default().HasOpenBLAS()
	} else {
		r.OpenBLASError = loadReason(info.Err)
	}
	if _, err := os.Stat("/dev/nvidiactl"); err == nil {
		r.Queues = "cuda,cpu"
	}
	if dir, err := cuda.DefaultCacheDir(); err == nil {
		r.KernelCache = dir
	}
	if d, err := cuda.Open(cuda.Config{}); err != nil {
		r.GPUError = loadReason(err)
	} else {
		r.GPU, r.Emulated, r.Driver, r.DriverVer = d.Name(), d.Emulated(), d.DriverPath(), d.DriverVersion()
		r.MemoryGiB = float64(d.TotalMemory()) / (1 << 30)
		if v, err := d.CUBLASVersion(); err == nil {
			r.CUBLAS = v
		}
		d.Close()
	}
	if nv, err := cuda.LoadNVRTC(); err != nil {
		r.NVRTCError = loadReason(err)
	} else {
		major, minor := nv.Version()
		r.NVRTC = fmt.Sprintf("%d.%d (%s)", major, minor, nv.Path())
		if compile != "" {
			img, log, err := nv.Compile(kernels.Source(), "kernels.cu", compile)
			if err != nil {
				r.CompileErr = fmt.Sprintf("%v\n%s", err, log)
			} else {
				r.Compiled = fmt.Sprintf("%s: %d bytes", compile, len(img))
			}
		}
	}
	if asJSON {
		return writeJSON(stdout, r)
	}
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(stdout, "%-14s %s\n", k, v)
		}
	}
	line("go", fmt.Sprintf("%s %s/%s", r.Go, r.OS, r.Arch))
	line("cpu", fmt.Sprintf("%s, %d cores", r.CPU, r.Cores))
	if len(r.PeakGFLOPS) > 0 {
		// "avx512 117 GFLOP/s on 1, 230 GFLOP/s on 2 threads; avx2 ...".
		var parts []string
		for _, isa := range []string{"avx512", "avx2"} {
			var on []string
			for _, threads := range []int{1, r.Cores} {
				if g, ok := r.PeakGFLOPS[fmt.Sprintf("%s/%d", isa, threads)]; ok && (threads == 1 || r.Cores > 1) {
					on = append(on, fmt.Sprintf("%.0f GFLOP/s on %d", g, threads))
				}
			}
			if len(on) > 0 {
				parts = append(parts, fmt.Sprintf("%s %s", isa, strings.Join(on, ", ")))
			}
		}
		line("peak", fmt.Sprintf("%s threads; clock %.2f GHz (a float32 FMA loop, measured now)", strings.Join(parts, "; "), r.GHz))
	}
	line("gemm", fmt.Sprintf("%s kernel, BLAS %s", r.GEMMKernel, r.BLAS))
	line("openblas", openBLASLine(r))
	if r.GPU != "" {
		kind := "GPU"
		if r.Emulated {
			kind = "emulator"
		}
		line(kind, fmt.Sprintf("%s, %.0f GiB, driver %d (%s)", r.GPU, r.MemoryGiB, r.DriverVer, r.Driver))
		if r.CUBLAS != 0 {
			line("cublas", fmt.Sprint(r.CUBLAS))
		}
	} else {
		line("GPU", "none: "+r.GPUError)
	}
	if r.NVRTC != "" {
		line("nvrtc", r.NVRTC)
	} else {
		line("nvrtc", "none: "+r.NVRTCError)
	}
	line("kernel set", r.KernelsHash+" cached in "+r.KernelCache)
	line("compiled", r.Compiled)
	line("compile error", r.CompileErr)
	line("agent queues", r.Queues)
	if r.CompileErr != "" {
		return fmt.Errorf("the kernel set does not compile for %s", compile)
	}
	return nil
}

// openBLASLine says whether OpenBLAS is usable, which kernel it runs, and
// whether the engine uses it.
func openBLASLine(r report) string {
	if r.OpenBLAS == "" {
		return "not usable: " + r.OpenBLASError
	}
	s := "usable: " + r.OpenBLAS
	if r.OpenBLASCore != "" {
		s += ", core type " + r.OpenBLASCore
	}
	if r.CoreType != "" {
		s += " (OPENBLAS_CORETYPE=" + r.CoreType + ")"
	}
	if r.OpenBLASUsed {
		return s + "; the engine multiplies with it"
	}
	return s + fmt.Sprintf("; the engine uses its own %s kernel (TL_BLAS=openblas to use OpenBLAS)", r.GEMMKernel)
}

// emptyReason matches a library named with an empty reason: "libx.so ()".
var emptyReason = regexp.MustCompile(`\(\s*\)`)

// loadReason is err's message, with an empty reason from the dynamic loader
// replaced by what is known: whether the file exists at all.
func loadReason(err error) string {
	if err == nil {
		return "unknown reason"
	}
	msg := strings.TrimSpace(err.Error())
	if msg == "" {
		return fmt.Sprintf("unknown reason (%T with an empty message)", err)
	}
	return emptyReason.ReplaceAllString(msg, "(the dynamic loader gave no reason; check its dependencies with ldd)")
}
