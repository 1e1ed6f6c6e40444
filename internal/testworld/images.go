package testworld

import (
	"fmt"
	"testing"

	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/dataset"
	"github.com/tlgo/tl/store/storetest"
	"github.com/tlgo/tl/tensor"
)

// Bands inserts n 28×28 images in 10 classes (class k lights rows
// 2k..2k+3, on noise) tagged tag, and defines the dataset name over them, as
// `tl import idx ... --tags TAG --define NAME` does with real files. A small
// network learns them in a few epochs.
func Bands(t testing.TB, db *store.DB, name, tag string, n int, seed uint64) {
	t.Helper()
	ctx := storetest.Context(t)
	coll, err := dataset.FromStore(ctx, db, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rng := tensor.NewRand(seed)
	var batch []dataset.Sample
	for i := range n {
		k := i % 10
		img := make([]uint8, 28*28)
		for j := range img {
			img[j] = uint8(rng.IntN(60))
		}
		for r := 2 * k; r < 2*k+4; r++ {
			for c := 4; c < 24; c++ {
				img[r*28+c] = 200 + uint8(rng.IntN(55))
			}
		}
		batch = append(batch, dataset.Sample{Key: fmt.Sprintf("%s-%05d", tag, i), Tensor: dataset.Uint8Tensor([]int{28, 28}, img), Label: k, Tags: []string{tag}})
	}
	if _, err := coll.Insert(ctx, batch...); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.Define(ctx, name, dataset.Query{Tags: []string{tag}}); err != nil {
		t.Fatal(err)
	}
}
