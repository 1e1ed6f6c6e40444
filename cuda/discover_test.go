package cuda

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func touch(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func index(t *testing.T, list []string, s string) int {
	t.Helper()
	i := slices.Index(list, s)
	if i < 0 {
		t.Fatalf("%s is not among the candidates:\n%s", s, strings.Join(list, "\n"))
	}
	return i
}

func TestCandidatesOrder(t *testing.T) {
	root := t.TempDir()
	cudaPath, cudaHome, ld := filepath.Join(root, "cuda"), filepath.Join(root, "home"), filepath.Join(root, "ld")
	touch(t,
		filepath.Join(cudaPath, "lib64", "libnvrtc.so.12"),
		filepath.Join(cudaHome, "lib", "libnvrtc.so.11.2"),
		// only versioned files here: globbed, highest version first
		filepath.Join(ld, "libnvrtc.so.12.4.99"), filepath.Join(ld, "libnvrtc.so.12.10.1"),
		filepath.Join(ld, "libcublas.so.12"), filepath.Join(ld, "libcuda.so.1"),
	)
	t.Setenv(EnvEmulator, "")
	t.Setenv("CUDA_PATH", cudaPath)
	t.Setenv("CUDA_HOME", cudaHome)
	t.Setenv("LD_LIBRARY_PATH", ld+string(os.PathListSeparator)+filepath.Join(root, "absent"))

	c := Candidates(LibNVRTC, Config{})
	if !slices.Equal(c[:4], LibNVRTC.sonames()) {
		t.Errorf("the sonames should come first, newest first: %v", c[:4])
	}
	a := index(t, c, filepath.Join(cudaPath, "lib64", "libnvrtc.so.12"))
	b := index(t, c, filepath.Join(cudaHome, "lib", "libnvrtc.so.11.2"))
	hi := index(t, c, filepath.Join(ld, "libnvrtc.so.12.10.1"))
	lo := index(t, c, filepath.Join(ld, "libnvrtc.so.12.4.99"))
	if !(4 <= a && a < b && b < hi && hi < lo) {
		t.Errorf("order: CUDA_PATH %d, CUDA_HOME %d, LD_LIBRARY_PATH %d then %d", a, b, hi, lo)
	}
	for _, p := range c {
		if strings.Contains(p, "absent") {
			t.Errorf("a missing folder gave candidate %s", p)
		}
	}
	index(t, Candidates(LibCUBLAS, Config{}), filepath.Join(ld, "libcublas.so.12"))
	index(t, Candidates(LibDriver, Config{}), filepath.Join(ld, "libcuda.so.1"))
	if d := SearchDirs(); d[0] != filepath.Join(cudaPath, "lib64") {
		t.Errorf("SearchDirs starts with %v, want $CUDA_PATH/lib64", d)
	}
}

func TestCandidatesPythonWheels(t *testing.T) {
	home := t.TempDir()
	lib := filepath.Join(home, ".local/lib/python3.12/site-packages/nvidia/cuda_nvrtc/lib/libnvrtc.so.12")
	touch(t, lib)
	t.Setenv(EnvEmulator, "")
	t.Setenv("HOME", home)
	index(t, Candidates(LibNVRTC, Config{}), lib)
}

func TestCandidatesExplicit(t *testing.T) {
	t.Setenv(EnvEmulator, "/env/libtlcudaemu.so")
	for _, l := range []Library{LibDriver, LibCUBLAS, LibNVRTC} {
		if c := Candidates(l, Config{}); !slices.Equal(c, []string{"/env/libtlcudaemu.so"}) {
			t.Errorf("%v with %s set: %v, want only the emulator", l, EnvEmulator, c)
		}
		if c := Candidates(l, Config{Emulator: "/cfg/emu.so"}); !slices.Equal(c, []string{"/cfg/emu.so"}) {
			t.Errorf("%v with Config.Emulator: %v, want only it", l, c)
		}
	}
	cfg := Config{LibCUDA: "/a/libcuda.so.1", LibCUBLAS: "/b/libcublas.so", LibNVRTC: "/c/libnvrtc.so", Emulator: "/e.so"}
	for l, want := range map[Library]string{LibDriver: cfg.LibCUDA, LibCUBLAS: cfg.LibCUBLAS, LibNVRTC: cfg.LibNVRTC} {
		if c := Candidates(l, cfg); !slices.Equal(c, []string{want}) {
			t.Errorf("%v: %v, want only %s", l, c, want)
		}
	}
}

func TestLoadErrorListsTried(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "libnvrtc.so.12")
	_, err := LoadNVRTC(missing, "libdoes-not-exist.so.7")
	if err == nil {
		t.Fatal("loading missing libraries succeeded")
	}
	for _, want := range []string{missing + " (missing)", "libdoes-not-exist.so.7 (", "libnvrtc"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q should contain %q", err, want)
		}
	}
}

func TestCompareVersions(t *testing.T) {
	l := []string{"x.so.9", "x.so.12.10", "x.so.12.4.1", "x.so.12.4"}
	slices.SortFunc(l, compareVersions)
	if want := []string{"x.so.9", "x.so.12.4", "x.so.12.4.1", "x.so.12.10"}; !slices.Equal(l, want) {
		t.Errorf("sorted %v, want %v", l, want)
	}
}
