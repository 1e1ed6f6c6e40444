package dataset_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/tlgo/tl/store/dataset"
	"github.com/tlgo/tl/store/storetest"
)

// Folds partition a view: the test folds are disjoint and cover it, each
// train view is the view minus its test fold, a second definition gives the
// same folds, and stratified folds hold every label's share to within one
// sample. A view with fewer samples than folds is an error that defines
// nothing.
func TestFolds(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		c := open(t, b, dataset.Options{})
		// Unbalanced labels: 0 has 31 samples, 1 has 17, 2 has 4 (fewer than k).
		var ss []dataset.Sample
		for i := range 52 {
			l := 0
			switch {
			case i >= 48:
				l = 2
			case i >= 31:
				l = 1
			}
			ss = append(ss, dataset.Sample{Key: fmt.Sprintf("s-%03d", i), Bytes: []byte{byte(i)}, Label: l, Tags: []string{"cv"}})
		}
		ss = append(ss, dataset.Sample{Key: "other", Bytes: []byte{1}, Label: 0, Tags: []string{"not-in-view"}})
		if _, err := c.Insert(ctx, ss...); err != nil {
			t.Fatal(err)
		}
		base, err := c.Define(ctx, "cvbase", dataset.Query{Tags: []string{"cv"}})
		if err != nil {
			t.Fatal(err)
		}
		const k = 5
		keys := func(d *dataset.Dataset) []string {
			var out []string
			for _, s := range collect(t, ctx, d, dataset.ReadOptions{}) {
				out = append(out, s.Key)
			}
			slices.Sort(out)
			return out
		}
		for _, strat := range []bool{false, true} {
			name := fmt.Sprintf("f%v", strat)
			folds, err := base.Folds(ctx, name, k, strat)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]int{}
			var sizes []int
			for _, f := range folds {
				test := keys(f.Test)
				sizes = append(sizes, len(test))
				for _, key := range test {
					if j, dup := seen[key]; dup {
						t.Fatalf("stratified=%v: %s in folds %d and %d", strat, key, j, f.I)
					}
					seen[key] = f.I
				}
				train := keys(f.Train)
				if len(train)+len(test) != 52 {
					t.Errorf("stratified=%v fold %d: %d train + %d test, want 52", strat, f.I, len(train), len(test))
				}
				for _, key := range train {
					if seen[key] == f.I && slices.Contains(test, key) {
						t.Errorf("stratified=%v fold %d: %s in both its train and test views", strat, f.I, key)
					}
				}
				// Reopened by name (as a train task does), the view is the same.
				again, err := c.Dataset(ctx, f.Test.Name())
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(keys(again), test) {
					t.Errorf("stratified=%v fold %d reopened by name differs", strat, f.I)
				}
				if strat {
					per := map[int]int{}
					for _, key := range test {
						var i int
						fmt.Sscanf(key, "s-%d", &i)
						per[ss[i].Label]++
					}
					for l, total := range map[int]int{0: 31, 1: 17, 2: 4} {
						lo := total / k
						if per[l] < lo || per[l] > lo+1 {
							t.Errorf("stratified fold %d holds %d of label %d's %d samples, want %d or %d", f.I, per[l], l, total, lo, lo+1)
						}
					}
				}
			}
			if len(seen) != 52 {
				t.Fatalf("stratified=%v: the test folds cover %d of 52 samples", strat, len(seen))
			}
			if strat {
				for _, n := range sizes {
					if n < 10 || n > 11 {
						t.Errorf("stratified fold sizes %v, want 10 or 11 each", sizes)
						break
					}
				}
			}
			// Defined again: the same partition.
			again, err := base.Folds(ctx, name+"b", k, strat)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range again {
				for _, key := range keys(f.Test) {
					if seen[key] != f.I {
						t.Fatalf("stratified=%v: rerun put %s in fold %d, first run in %d", strat, key, f.I, seen[key])
					}
				}
			}
		}

		small, err := c.Define(ctx, "small", dataset.Query{Labels: []int{2}, Tags: []string{"cv"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := small.Folds(ctx, "toomany", k, false); !errors.Is(err, dataset.ErrTooFewSamples) {
			t.Fatalf("5 folds of 4 samples: err %v, want ErrTooFewSamples", err)
		}
		if _, err := c.Dataset(ctx, "toomany-0-test"); !errors.Is(err, dataset.ErrNotFound) {
			t.Fatalf("a failed Folds defined a view: %v", err)
		}
	})
}
