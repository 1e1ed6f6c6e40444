package feed

import (
	"testing"

	"github.com/tlgo/tl/tensor"
)

func TestSkipGramPairs(t *testing.T) {
	ids := make([]int32, 50)
	for i := range ids {
		ids[i] = int32(100 + i) // a word's id tells its position
	}
	const skip, skips = 2, 3
	s, err := NewSkipGram(ids, skip, skips, 7)
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != (50-2*skip)*skips {
		t.Fatalf("Len = %d; want %d", s.Len(), (50-2*skip)*skips)
	}
	out := []*tensor.Tensor{tensor.New(tensor.Int32), tensor.New(tensor.Int32)}
	counts := map[int]int{} // offset -> how often drawn
	for c := 0; c < 50-2*skip; c++ {
		seen := map[int32]bool{}
		for j := range skips {
			if err := s.Read(c*skips+j, out); err != nil {
				t.Fatal(err)
			}
			centre, ctx := out[0].Int32s()[0], out[1].Int32s()[0]
			if centre != int32(100+c+skip) {
				t.Fatalf("pair %d: centre %d; want %d", c*skips+j, centre, 100+c+skip)
			}
			off := int(ctx - centre)
			if off == 0 || off < -skip || off > skip || seen[ctx] {
				t.Fatalf("centre %d: context offset %d (seen %v); want distinct offsets in [-%d,%d] without 0", centre, off, seen, skip, skip)
			}
			seen[ctx] = true
			counts[off]++
		}
	}
	// Every offset is drawn, none much more than the others.
	for off := -skip; off <= skip; off++ {
		if off != 0 && (counts[off] < 20 || counts[off] > 50) {
			t.Errorf("offset %d drawn %d times of %d; want about %d", off, counts[off], (50-2*skip)*skips, (50-2*skip)*skips/4)
		}
	}
	// The same seed, the same pairs; Read allocates nothing.
	s2, _ := NewSkipGram(ids, skip, skips, 7)
	out2 := []*tensor.Tensor{tensor.New(tensor.Int32), tensor.New(tensor.Int32)}
	for k := range s.Len() {
		_ = s.Read(k, out)
		_ = s2.Read(k, out2)
		if out[1].Int32s()[0] != out2[1].Int32s()[0] {
			t.Fatalf("pair %d differs between two sources of one seed", k)
		}
	}
	if a := testing.AllocsPerRun(100, func() { _ = s.Read(17, out) }); a != 0 {
		t.Errorf("Read allocates %v times; want 0", a)
	}
}

func TestSkipGramErrors(t *testing.T) {
	for _, c := range []struct{ n, skip, skips int }{{10, 0, 1}, {10, 2, 5}, {4, 2, 2}, {10, 65, 2}} {
		if _, err := NewSkipGram(make([]int32, c.n), c.skip, c.skips, 1); err == nil {
			t.Errorf("NewSkipGram(%d words, window %d, %d skips) accepted", c.n, c.skip, c.skips)
		}
	}
}
