package cuda

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Library names one of the three libraries the package loads.
type Library int

const (
	LibDriver Library = iota // libcuda.so.1, the driver API
	LibCUBLAS                // libcublas
	LibNVRTC                 // libnvrtc, the run-time compiler
)

func (l Library) String() string {
	switch l {
	case LibDriver:
		return "libcuda (the NVIDIA driver)"
	case LibCUBLAS:
		return "libcublas"
	case LibNVRTC:
		return "libnvrtc"
	}
	return "unknown library"
}

// EnvEmulator names the emulator library (cuda/emu) to load instead of CUDA.
const EnvEmulator = "TL_CUDA_EMULATOR"

// sonames lists the names to try for a library, newest first.
func (l Library) sonames() []string {
	switch l {
	case LibDriver:
		return []string{"libcuda.so.1", "libcuda.so"}
	case LibCUBLAS:
		return []string{"libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"}
	case LibNVRTC:
		return []string{"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so"}
	}
	return nil
}

// base is the unversioned file name, for globbing versioned files.
func (l Library) base() string { return strings.TrimSuffix(l.sonames()[len(l.sonames())-1], ".so") }

// explicit returns the path cfg sets for l: its own field, else the emulator
// (which exports all three libraries from one file).
func (l Library) explicit(cfg Config) string {
	var own string
	switch l {
	case LibDriver:
		own = cfg.LibCUDA
	case LibCUBLAS:
		own = cfg.LibCUBLAS
	case LibNVRTC:
		own = cfg.LibNVRTC
	}
	if own != "" {
		return own
	}
	if cfg.Emulator != "" {
		return cfg.Emulator
	}
	return os.Getenv(EnvEmulator)
}

// Candidates returns, in order, the files and sonames tried for library l:
//
//   - the path set in cfg (LibCUDA, LibCUBLAS or LibNVRTC), else cfg.Emulator,
//     else $TL_CUDA_EMULATOR: then that one file is the only candidate;
//   - the sonames through the dynamic loader (ld.so.cache, LD_LIBRARY_PATH);
//   - in each of SearchDirs, the sonames that exist there, else any versioned
//     file (libnvrtc.so.*), highest version first.
func Candidates(l Library, cfg Config) []string {
	if p := l.explicit(cfg); p != "" {
		return []string{p}
	}
	c := slices.Clone(l.sonames())
	for _, dir := range SearchDirs() {
		found := false
		for _, n := range l.sonames() {
			p := filepath.Join(dir, n)
			if fileExists(p) {
				c = append(c, p)
				found = true
			}
		}
		if found {
			continue
		}
		m, _ := filepath.Glob(filepath.Join(dir, l.base()+".so.*"))
		slices.SortFunc(m, func(a, b string) int { return compareVersions(b, a) })
		c = append(c, m...)
	}
	return c
}

// SearchDirs lists the folders searched after the dynamic loader, in order:
// $CUDA_PATH and $CUDA_HOME (lib64, lib), each folder of $LD_LIBRARY_PATH,
// /usr/local/cuda/lib64, the nvidia/*/lib folders of pip-installed CUDA
// wheels (system, /usr/local, ~/.local, /opt and conda Pythons), $CONDA_PREFIX/lib,
// and /usr/lib/x86_64-linux-gnu. Only folders that exist are listed.
func SearchDirs() []string {
	var dirs []string
	for _, env := range []string{"CUDA_PATH", "CUDA_HOME"} {
		if root := os.Getenv(env); root != "" {
			dirs = append(dirs, filepath.Join(root, "lib64"), filepath.Join(root, "lib"))
		}
	}
	for _, d := range filepath.SplitList(os.Getenv("LD_LIBRARY_PATH")) {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	dirs = append(dirs, "/usr/local/cuda/lib64")
	globs := []string{
		"/usr/lib/python3*/dist-packages/nvidia/*/lib",
		"/usr/local/lib/python3*/dist-packages/nvidia/*/lib",
		"/usr/local/lib/python3*/site-packages/nvidia/*/lib",
		"/opt/*/lib/python3*/site-packages/nvidia/*/lib",
		"/opt/conda/envs/*/lib/python3*/site-packages/nvidia/*/lib",
	}
	if home := os.Getenv("HOME"); home != "" {
		globs = append(globs, filepath.Join(home, ".local/lib/python3*/site-packages/nvidia/*/lib"))
	}
	if venv := os.Getenv("VIRTUAL_ENV"); venv != "" {
		globs = append(globs, filepath.Join(venv, "lib/python3*/site-packages/nvidia/*/lib"))
	}
	for _, g := range globs {
		m, _ := filepath.Glob(g)
		slices.Sort(m)
		dirs = append(dirs, m...)
	}
	if conda := os.Getenv("CONDA_PREFIX"); conda != "" {
		dirs = append(dirs, filepath.Join(conda, "lib"))
	}
	dirs = append(dirs, "/usr/lib/x86_64-linux-gnu")
	var out []string
	for _, d := range dirs {
		if st, err := os.Stat(d); err == nil && st.IsDir() && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// compareVersions orders libx.so.12.4.1 after libx.so.12.4 and libx.so.9:
// the numeric fields after ".so." compare as numbers.
func compareVersions(a, b string) int {
	va, vb := versionFields(a), versionFields(b)
	for i := 0; i < len(va) && i < len(vb); i++ {
		if va[i] != vb[i] {
			return va[i] - vb[i]
		}
	}
	return len(va) - len(vb)
}

func versionFields(p string) []int {
	i := strings.LastIndex(p, ".so.")
	if i < 0 {
		return nil
	}
	var v []int
	for _, f := range strings.Split(p[i+4:], ".") {
		n := 0
		for _, r := range f {
			if r < '0' || r > '9' {
				break
			}
			n = n*10 + int(r-'0')
		}
		v = append(v, n)
	}
	return v
}

// load opens library l from its candidates.
func load(l Library, cfg Config) (*dylib, error) {
	return openFirst(l.String(), Candidates(l, cfg))
}
