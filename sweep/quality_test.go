package sweep_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlgo/tl/internal/testenv"
	"github.com/tlgo/tl/store/dataset"
	"github.com/tlgo/tl/sweep"
)

// ASHA against random search on Fashion-MNIST (issue 15's quality figure,
// scaled down for a shared CPU): the same space and seed, so trial n has the
// same parameters in both; random trains every trial max_epochs, ASHA rungs
// of 1, 3 and 9 epochs with eta 3, promoted trials fine-tuning their last
// version. Data: t10k split by the dataset module into a stratified 8,000
// sample training view and a 2,000 sample validation view (fold 0 of 5);
// each epoch trains on params.limit samples. It logs each search's best
// val_accuracy, its epochs and the seconds its tasks took. A few minutes of
// CPU:
//
//	go test ./sweep -run '^$' -bench SearchQuality -benchtime 1x -v
func BenchmarkSearchQuality(b *testing.B) {
	t := b
	dir := "/usr/share/datasets/fashion-mnist"
	images, labels := filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), filepath.Join(dir, "t10k-labels-idx1-ubyte.gz")
	_, err := os.Stat(images)
	testenv.Require(t, "Fashion-MNIST (apt-get install dataset-fashion-mnist)", err)
	e := newEnv(t)
	ctx := context.Background()
	coll, err := dataset.FromStore(ctx, e.db, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dataset.ImportIDX(ctx, coll, images, labels, dataset.FashionMNISTClasses(), dataset.ImportOptions{Tags: []string{"fm"}, BatchSize: 1000, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	base, err := coll.Define(ctx, "fm", dataset.Query{Tags: []string{"fm"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := base.Folds(ctx, "fm", 5, true); err != nil {
		t.Fatal(err)
	}
	e.runMaster()
	e.mlAgent(2)
	const common = "base: {input: fm-0-train, validation: fm-0-test, params: {arch: mlp, limit: 3000, log_every: 50}}\n" +
		"space: {lr: {loguniform: [0.0001, 0.01]}, batch: {choice: [32, 64, 128, 256]}}\n" +
		"trials: 9\nseed: 1\nmetric: val_accuracy\nparallel: 2\n"
	type res struct {
		best           float64
		epochs         int
		seconds, spent float64
	}
	run := func(name, extra string) res {
		start := time.Now()
		e.submit("name: " + name + "\n" + strings.Replace(common, "base: {", "base: {model: "+name+", ", 1) + extra)
		sw := e.wait(name, 30*time.Minute)
		if sw.State != sweep.Finished {
			t.Fatalf("%s: %s (%s)", name, sw.State, sw.Note)
		}
		r := res{best: sw.Best.Metric, spent: time.Since(start).Seconds()}
		for _, tr := range sw.Trials {
			for _, rg := range tr.Rungs {
				r.epochs += rg.Epochs
				r.seconds += rg.Seconds
			}
		}
		return r
	}
	rnd := run("fm-random", "algorithm: random\nepochs: 9\n")
	ash := run("fm-asha", "algorithm: asha\nmin_epochs: 1\neta: 3\nmax_epochs: 9\n")
	t.Logf("random: best val_accuracy %.4f, %d epochs, tasks %.0f s, wall %.0f s", rnd.best, rnd.epochs, rnd.seconds, rnd.spent)
	t.Logf("ASHA:   best val_accuracy %.4f, %d epochs, tasks %.0f s, wall %.0f s", ash.best, ash.epochs, ash.seconds, ash.spent)
	t.Logf("ASHA - random: %+.2f points; ASHA's compute: %.0f%% of random's epochs, %.0f%% of its task seconds",
		100*(ash.best-rnd.best), 100*float64(ash.epochs)/float64(rnd.epochs), 100*ash.seconds/rnd.seconds)
}
