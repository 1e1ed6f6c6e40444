package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/tlgo/tl/bench"
	"github.com/tlgo/tl/cpu/gemm"
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
	BLAS       string `json:"blas"`
	CoreType   string `json:"openblas_coretype,omitempty"`

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

func cmdDoctor(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("doctor", "[flags]",
		"Reports what this machine offers the library: the CPU and its matrix kernel, OpenBLAS,\n"+
			"the NVIDIA driver and GPU (or why none was found), cuBLAS, NVRTC and the kernel cache,\n"+
			"and the queues an agent started here would serve. Use it on a new node before starting\n"+
			"tl-agent.", stderr)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	compile := fs.String("compile", "", "also compile the CUDA kernel set with NVRTC for this architecture (sm_90, ...), GPU or not")
	if err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	r := report{Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, CPU: bench.CPUName(),
		Cores: runtime.NumCPU(), GEMMKernel: gemm.Default().Kernel(), BLAS: gemm.Default().Backend().String(),
		CoreType: os.Getenv("OPENBLAS_CORETYPE"), KernelsHash: kernels.Hash(), Queues: "cpu"}
	if _, err := os.Stat("/dev/nvidiactl"); err == nil {
		r.Queues = "cuda,cpu"
	}
	if dir, err := cuda.DefaultCacheDir(); err == nil {
		r.KernelCache = dir
	}
	if d, err := cuda.Open(cuda.Config{}); err != nil {
		r.GPUError = err.Error()
	} else {
		r.GPU, r.Emulated, r.Driver, r.DriverVer = d.Name(), d.Emulated(), d.DriverPath(), d.DriverVersion()
		r.MemoryGiB = float64(d.TotalMemory()) / (1 << 30)
		if v, err := d.CUBLASVersion(); err == nil {
			r.CUBLAS = v
		}
		d.Close()
	}
	if nv, err := cuda.LoadNVRTC(); err != nil {
		r.NVRTCError = err.Error()
	} else {
		major, minor := nv.Version()
		r.NVRTC = fmt.Sprintf("%d.%d (%s)", major, minor, nv.Path())
		if *compile != "" {
			img, log, err := nv.Compile(kernels.Source(), "kernels.cu", *compile)
			if err != nil {
				r.CompileErr = fmt.Sprintf("%v\n%s", err, log)
			} else {
				r.Compiled = fmt.Sprintf("%s: %d bytes", *compile, len(img))
			}
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(stdout, "%-14s %s\n", k, v)
		}
	}
	line("go", fmt.Sprintf("%s %s/%s", r.Go, r.OS, r.Arch))
	line("cpu", fmt.Sprintf("%s, %d cores", r.CPU, r.Cores))
	line("gemm", fmt.Sprintf("%s kernel, BLAS %s", r.GEMMKernel, r.BLAS))
	line("openblas type", r.CoreType)
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
		return fmt.Errorf("the kernel set does not compile for %s", *compile)
	}
	return nil
}
