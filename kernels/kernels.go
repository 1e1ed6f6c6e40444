package kernels

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"slices"
	"strings"
)

//go:embed common.cuh *.cu
var files embed.FS

// Source returns the whole kernel set as one CUDA C++ translation unit: common.cuh
// followed by every .cu file in name order.
func Source() string {
	var b strings.Builder
	head, _ := files.ReadFile("common.cuh")
	b.WriteString("#line 1 \"common.cuh\"\n")
	b.Write(head)
	names, _ := fs.Glob(files, "*.cu")
	slices.Sort(names)
	for _, n := range names {
		src, _ := files.ReadFile(n)
		b.WriteString("\n// ---- " + n + " ----\n#line 1 \"" + n + "\"\n")
		b.Write(src)
	}
	return b.String()
}

// Hash identifies Source: compiled kernels are cached under it.
func Hash() string {
	h := sha256.Sum256([]byte(Source()))
	return hex.EncodeToString(h[:16])
}

// Files lists the kernel files, for error messages and tests.
func Files() []string {
	names, _ := fs.Glob(files, "*.cu")
	slices.Sort(names)
	return append([]string{"common.cuh"}, names...)
}
