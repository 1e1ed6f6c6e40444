// Package gemm is the single-precision matrix product the CPU engine stands
// on: C = alpha·op(A)·op(B) + beta·C on row-major matrices.
//
// (The full essay is being written; see the end of this comment for the
// backend policy.)
//
// # Backends
//
// Native is this package's own blocked GEMM with SIMD micro-kernels in Go
// assembly (AVX-512, AVX2+FMA, and a scalar Go fallback), chosen from CPUID
// at start-up. OpenBLAS is the system library, loaded at run time with
// github.com/ebitengine/purego, so the package builds with CGO_ENABLED=0 and
// works without OpenBLAS installed. The environment variable TL_BLAS
// (auto, native, openblas) sets the default engine's backend.
package gemm
