package nn

import (
	"math/rand/v2"
	"testing"
)

// The LSTM step's elementwise kernels give exactly the bits of the formulas
// written out in Go (the vector loops round as Go does), on every length and
// on both paths.
func TestLSTMKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	pos := func(n int) []float32 { // exponentials: positive, some large
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(r.ExpFloat64() * 3)
		}
		return s
	}
	paths(func(path string) {
		for hid := 0; hid <= 37; hid++ {
			g, b := randSlice(r, hid), randSlice(r, hid)
			for _, c := range [][2]float32{{0, 1}, {1.5, 1}, {0, 2}} {
				d := append([]float32(nil), g...)
				LSTMPre(d, b, c[0], c[1])
				for i := range d {
					if want := (-(g[i] + b[i]) - c[0]) * c[1]; d[i] != want {
						t.Fatalf("%s: LSTMPre hid=%d shift=%v scale=%v: [%d] = %v, want %v", path, hid, c[0], c[1], i, d[i], want)
					}
				}
			}
			e, cprev := pos(4*hid), randSlice(r, hid)
			iA, fA, gA, oA, cN, tA := make([]float32, hid), make([]float32, hid), make([]float32, hid), make([]float32, hid), make([]float32, hid), make([]float32, hid)
			LSTMGates(e, cprev, iA, fA, gA, oA, cN, tA)
			for j := range hid {
				iv, fv := 1/(1+e[j]), 1/(1+e[hid+j])
				gv, ov := 2/(1+e[2*hid+j])-1, 1/(1+e[3*hid+j])
				cv := fv*cprev[j] + iv*gv
				if iA[j] != iv || fA[j] != fv || gA[j] != gv || oA[j] != ov || cN[j] != cv || tA[j] != -2*cv {
					t.Fatalf("%s: LSTMGates hid=%d unit %d: got %v %v %v %v %v %v, want %v %v %v %v %v %v", path, hid, j,
						iA[j], fA[j], gA[j], oA[j], cN[j], tA[j], iv, fv, gv, ov, cv, -2*cv)
				}
			}
			// The backward row, on slots s apart, dcOut apart from dc and
			// the same as dc.
			const s, off = 40, 1
			pk, dy := randSlice(r, 7*s+off+hid), randSlice(r, 7*s+off+hid)
			dh, dc, cp := randSlice(r, hid), randSlice(r, hid), randSlice(r, hid)
			for _, inPlace := range []bool{false, true} {
				dg, dcIn := make([]float32, 4*hid), append([]float32(nil), dc...)
				dcOut := make([]float32, hid)
				if inPlace {
					dcOut = dcIn
				}
				LSTMBack(dg, dh, dcIn, dy, pk, cp, dcOut, off, s)
				at := func(x []float32, k, j int) float32 { return x[k*s+off+j] }
				for j := range hid {
					iv, fv, gv, ov, tv := at(pk, 2, j), at(pk, 3, j), at(pk, 4, j), at(pk, 5, j), at(pk, 6, j)
					dtv := dh[j]*ov + at(dy, 6, j)
					dcv := dc[j] + dtv*(1-tv*tv)
					dov := dh[j]*tv + at(dy, 5, j)
					div := dcv*gv + at(dy, 2, j)
					dfv := dcv*cp[j] + at(dy, 3, j)
					dgv := dcv*iv + at(dy, 4, j)
					want := []float32{div * iv * (1 - iv), dfv * fv * (1 - fv), dgv * (1 - gv*gv), dov * ov * (1 - ov)}
					for k, w := range want {
						if dg[k*hid+j] != w {
							t.Fatalf("%s: LSTMBack hid=%d inPlace=%v gate %d unit %d: %v, want %v", path, hid, inPlace, k, j, dg[k*hid+j], w)
						}
					}
					if dcOut[j] != dcv*fv {
						t.Fatalf("%s: LSTMBack hid=%d inPlace=%v dcOut[%d] = %v, want %v", path, hid, inPlace, j, dcOut[j], dcv*fv)
					}
				}
			}
			tx, o := pos(hid), randSlice(r, hid)
			tt, h := append([]float32(nil), tx...), make([]float32, hid)
			LSTMOut(tt, o, h)
			for j := range hid {
				tv := 2/(1+tx[j]) - 1
				if tt[j] != tv || h[j] != o[j]*tv {
					t.Fatalf("%s: LSTMOut hid=%d [%d]: t %v h %v, want %v %v", path, hid, j, tt[j], h[j], tv, o[j]*tv)
				}
			}
		}
	})
}
