//go:build amd64 && !purego

package nn

import "golang.org/x/sys/cpu"

var hasAVX2 = cpu.X86.HasAVX2

//go:noescape
func addAVX2(d, s *float32, n int)

//go:noescape
func addReluAVX2(d, s *float32, n int)

//go:noescape
func maxAVX2(d, s *float32, n int)

//go:noescape
func reluGradAVX2(d, dy, y *float32, n int)

//go:noescape
func argmaxAVX2(best *float32, arg *int32, x *float32, n int, base int32)

//go:noescape
func lstmPreAVX2(x, b *float32, n int, shift, scale float32)

//go:noescape
func lstmGatesAVX2(e *float32, hid int, cprev, iA, fA, gA, oA, cN, tA *float32, n int)

//go:noescape
func lstmBackAVX2(pk2, pk5, dy2, dy5 *float32, s int, dg *float32, hid int, dh, dc, cprev, dcOut *float32, n int)

//go:noescape
func lstmOutAVX2(t, o, h *float32, n int)

//go:noescape
func mulAVX2(d, a, b *float32, n int)

//go:noescape
func lrnFwd075AVX2(y, x, s *float32, n int, bias, alpha float32)

//go:noescape
func lrnBwdT075AVX2(p, t, x, dy, s *float32, n int, bias, alpha float32)

//go:noescape
func lrnBwdOutAVX2(dx, dy, p, x, ts *float32, n int, k float32)

//go:noescape
func copyRunsAVX2(dst *float32, ds int, src *float32, ss int, n, run int)

//go:noescape
func maxRowsAVX2(d *float32, ds int, s *float32, ss int, rows, n int)

//go:noescape
func argmaxRowsAVX2(best *float32, arg *int32, bs int, x *float32, xs int, rows, n int, base, step int32)
