package cuda_test

import (
	"math"
	"slices"
	"testing"
	"unsafe"

	"github.com/tlgo/tl/cuda"
	"github.com/tlgo/tl/cuda/cudatest"
	"github.com/tlgo/tl/graph"
)

// kernels/nce.cu's warp-parallel unique sampler against the same draws taken
// one by one: tl_nce_sample gives the raw draw sequence of a (seed, step) on
// the device, the distinct ids in the order first drawn and the number of draws
// up to the n-th are computed from it here, and the unique kernel must give
// exactly those, with its hash set in shared memory and in global memory.
func TestUniqueSamplerMatchesSerialDraws(t *testing.T) {
	d := cudatest.Open(t)
	sample, err := d.Function("tl_nce_sample")
	if err != nil {
		t.Fatal(err)
	}
	unique, err := d.Function("tl_nce_sample_unique")
	if err != nil {
		t.Fatal(err)
	}
	counter := alloc(t, d, 8)
	for _, c := range []struct {
		n, rng int32
		global bool
	}{
		{1, 1, false}, {32, 32, false}, {64, 500, false}, {64, 70, false}, {33, 40000, false},
		{200, 300, true}, {3000, 100000, true},
	} {
		seed := uint64(c.n)*0x9e3779b97f4a7c15 ^ uint64(c.rng)
		step := []uint64{uint64(c.rng) + 5}
		if err := d.CopyToDevice(counter, unsafe.Pointer(&step[0]), 8); err != nil {
			t.Fatal(err)
		}
		logRange := float32(math.Log(float64(c.rng) + 1))
		// Enough raw draws for the n distinct ids (grown until they are).
		var want []int32
		var tries int32
		for draws := int32(4096); ; draws *= 4 {
			raw := alloc(t, d, 4*int(draws))
			args := []any{raw, draws, c.rng, logRange, seed, counter}
			launch(t, d, sample, graph.Dim3{X: uint32((draws + 255) / 256)}, graph.Dim3{X: 256}, 0, args)
			ks := download[int32](t, d, raw, int(draws))
			d.Free(raw)
			want, tries = want[:0], 0
			seen := map[int32]bool{}
			for i, k := range ks {
				if !seen[k] {
					seen[k] = true
					want = append(want, k)
					if int32(len(want)) == c.n {
						tries = int32(i + 1)
						break
					}
				}
			}
			if tries > 0 {
				break
			}
		}
		tsize := int32(64)
		for tsize < 2*c.n {
			tsize *= 2
		}
		out := alloc(t, d, 4*int(c.n+1))
		table, shared := graph.DevicePtr(0), 4*int(tsize)
		if c.global {
			table, shared = alloc(t, d, 4*int(tsize)), 0
		}
		launch(t, d, unique, graph.Dim3{X: 1}, graph.Dim3{X: 32}, shared, []any{out, c.n, c.rng, logRange, seed, counter, table, tsize})
		got := download[int32](t, d, out, int(c.n+1))
		if !slices.Equal(got[:c.n], want) || got[c.n] != tries {
			t.Errorf("n %d of %d (table in global memory %v): ids %v… after %d draws, want %v… after %d",
				c.n, c.rng, c.global, got[:min(c.n, 8)], got[c.n], want[:min(c.n, 8)], tries)
		}
		d.Free(out)
		if table != 0 {
			d.Free(table)
		}
	}
}

// launch packs args as the kernels take them (DevicePtr and pointers, int32,
// float32, uint64) and launches f.
func launch(t *testing.T, d *cuda.Device, f graph.DeviceFunc, grid, block graph.Dim3, shared int, args []any) {
	t.Helper()
	vals := make([]uint64, len(args))
	params := make([]unsafe.Pointer, len(args))
	for i, a := range args {
		switch x := a.(type) {
		case graph.DevicePtr:
			vals[i] = uint64(x)
		case int32:
			vals[i] = uint64(uint32(x))
		case float32:
			vals[i] = uint64(math.Float32bits(x))
		case uint64:
			vals[i] = x
		default:
			t.Fatalf("launch: argument %d has type %T", i, a)
		}
		params[i] = unsafe.Pointer(&vals[i])
	}
	if err := d.Launch(f, grid, block, shared, params); err != nil {
		t.Fatal(err)
	}
	if err := d.Synchronize(); err != nil {
		t.Fatal(err)
	}
}
