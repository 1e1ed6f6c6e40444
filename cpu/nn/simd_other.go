//go:build !amd64 || purego

package nn

const hasAVX2 = false

func addAVX2(d, s *float32, n int)                                        { panic("nn: no AVX2") }
func addReluAVX2(d, s *float32, n int)                                    { panic("nn: no AVX2") }
func maxAVX2(d, s *float32, n int)                                        { panic("nn: no AVX2") }
func reluGradAVX2(d, dy, y *float32, n int)                               { panic("nn: no AVX2") }
func argmaxAVX2(best *float32, arg *int32, x *float32, n int, base int32) { panic("nn: no AVX2") }
func mulAVX2(d, a, b *float32, n int)                                     { panic("nn: no AVX2") }
func copyRunsAVX2(dst *float32, ds int, src *float32, ss int, n, run int) { panic("nn: no AVX2") }
func lstmPreAVX2(x, b *float32, n int, shift, scale float32)              { panic("nn: no AVX2") }
func lstmOutAVX2(t, o, h *float32, n int)                                 { panic("nn: no AVX2") }
func lstmBackAVX2(pk2, pk5, dy2, dy5 *float32, s int, dg *float32, hid int, dh, dc, cprev, dcOut *float32, n int) {
	panic("nn: no AVX2")
}
func lstmGatesAVX2(e *float32, hid int, cprev, iA, fA, gA, oA, cN, tA *float32, n int) {
	panic("nn: no AVX2")
}
func lrnFwd075AVX2(y, x, s *float32, n int, bias, alpha float32)         { panic("nn: no AVX2") }
func lrnBwdT075AVX2(p, t, x, dy, s *float32, n int, bias, alpha float32) { panic("nn: no AVX2") }
func lrnBwdOutAVX2(dx, dy, p, x, ts *float32, n int, k float32)          { panic("nn: no AVX2") }
func maxRowsAVX2(d *float32, ds int, s *float32, ss int, rows, n int)    { panic("nn: no AVX2") }
func argmaxRowsAVX2(best *float32, arg *int32, bs int, x *float32, xs int, rows, n int, base, step int32) {
	panic("nn: no AVX2")
}
