package cuda

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlgo/tl/internal/testenv"
)

const testKernel = `extern "C" __global__ void tl_test_add(float* x, float v, int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) x[i] += v;
}
`

func loadNVRTC(t *testing.T) *NVRTC {
	t.Helper()
	t.Setenv(EnvEmulator, "") // the real compiler: these tests check CUBIN and PTX
	nv, err := LoadNVRTC()
	if err != nil {
		testenv.Require(t, "NVRTC", err)
	}
	return nv
}

func TestNVRTCCompile(t *testing.T) {
	nv := loadNVRTC(t)
	major, _ := nv.Version()
	if major < 11 {
		t.Fatalf("NVRTC version %d: want 11 or newer", major)
	}
	cubin, _, err := nv.Compile(testKernel, "add.cu", "sm_90")
	if err != nil {
		t.Fatal(err)
	}
	if len(cubin) < 4 || string(cubin[1:4]) != "ELF" {
		t.Errorf("sm_90 image is not an ELF CUBIN: % x", cubin[:min(8, len(cubin))])
	}
	ptx, _, err := nv.Compile(testKernel, "add.cu", "compute_90")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ptx), ".entry tl_test_add") {
		t.Errorf("PTX lacks the kernel's entry:\n%s", ptx)
	}
}

func TestNVRTCCompileError(t *testing.T) {
	nv := loadNVRTC(t)
	src := "extern \"C\" __global__ void k(float* x) {\n#line 7 \"broken.cu\"\n  x[0] = undefined_name;\n}\n"
	_, log, err := nv.Compile(src, "all.cu", "sm_90")
	if err == nil {
		t.Fatal("compiling an undefined name succeeded")
	}
	for _, want := range []string{"broken.cu(7)", "undefined_name"} {
		if !strings.Contains(err.Error(), want) || !strings.Contains(log, want) {
			t.Errorf("error and log should name %q:\nerror: %v\nlog: %s", want, err, log)
		}
	}
	if _, _, err := nv.Compile(testKernel, "add.cu", "90"); err == nil {
		t.Error("architecture \"90\" was accepted")
	}
}

func TestCompileCached(t *testing.T) {
	nv := loadNVRTC(t)
	dir := t.TempDir()
	first, err := CompileCached(nv, testKernel, "sm_90", dir)
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := filepath.Glob(filepath.Join(dir, "*.bin"))
	if len(entries) != 1 {
		t.Fatalf("cache holds %v, want one entry", entries)
	}
	// A hit returns the entry without compiling: prove it by planting a marker
	// image under the same key with a valid checksum.
	if err := writeCacheEntry(entries[0], []byte("marker")); err != nil {
		t.Fatal(err)
	}
	if img, err := CompileCached(nv, testKernel, "sm_90", dir); err != nil || string(img) != "marker" {
		t.Fatalf("cache hit returned %q, %v; want the cached entry", img, err)
	}
	// A truncated entry is compiled again and rewritten.
	b, _ := os.ReadFile(entries[0])
	if err := os.WriteFile(entries[0], b[:len(b)-2], 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := CompileCached(nv, testKernel, "sm_90", dir)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(first) {
		t.Error("a truncated entry did not give the compiled image back")
	}
	if img, ok := readCacheEntry(entries[0]); !ok || string(img) != string(first) {
		t.Error("the truncated entry was not rewritten")
	}
	// Another architecture is another key.
	if _, err := CompileCached(nv, testKernel, "compute_90", dir); err != nil {
		t.Fatal(err)
	}
	if entries, _ = filepath.Glob(filepath.Join(dir, "*.bin")); len(entries) != 2 {
		t.Errorf("cache holds %d entries after a second architecture, want 2", len(entries))
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, "*.tmp*")); len(tmp) != 0 {
		t.Errorf("temporary files left behind: %v", tmp)
	}
}

func TestDefaultCacheDirWithoutHome(t *testing.T) {
	t.Setenv("HOME", "")
	t.Setenv("XDG_CACHE_HOME", "")
	d, err := DefaultCacheDir()
	if err != nil || !strings.HasPrefix(d, os.TempDir()) {
		t.Errorf("DefaultCacheDir without $HOME: %q, %v; want a folder under %s", d, err, os.TempDir())
	}
}
