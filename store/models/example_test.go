package models_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"

	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/models"
)

// Save two versions of a model, alias one, rank them and load the best.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "tl-models-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := store.Open(ctx, store.Config{DataDir: dir + "/db", Project: "mnist"})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close(ctx)
	ms, err := models.New(ctx, db, models.Options{CacheDir: dir + "/cache"})
	if err != nil {
		log.Fatal(err)
	}

	arch := json.RawMessage(`{"layers":[{"type":"dense","units":10}]}`)
	for i, acc := range []float64{0.91, 0.97} {
		weights := bytes.Repeat([]byte{byte(i)}, 1000) // safetensors bytes in real use
		m, err := ms.Save(ctx, models.Spec{
			Name:         "mlp",
			Architecture: arch,
			Params:       map[string]any{"lr": 0.01 * float64(i+1)},
			Metrics:      map[string]float64{"accuracy": acc},
			Lineage:      models.Lineage{Dataset: "fashion-mnist/train"},
		}, bytes.NewReader(weights))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("saved", m.Name, "version", m.Version)
	}

	best, err := ms.Top(ctx, models.TopQuery{Name: "mlp", Metric: "accuracy", K: 1})
	if err != nil {
		log.Fatal(err)
	}
	if err := ms.Alias(ctx, "mlp", "production", best[0].Version); err != nil {
		log.Fatal(err)
	}

	l, err := ms.Load(ctx, models.Ref{Name: "mlp", Alias: "production"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("production is version", l.Version, "accuracy", l.Metrics["accuracy"], "weights", len(l.Weights), "bytes")
	l, _ = ms.Load(ctx, models.Ref{Name: "mlp", Alias: "production"})
	fmt.Println("second load from cache:", l.FromCache)
	// Output:
	// saved mlp version 1
	// saved mlp version 2
	// production is version 2 accuracy 0.97 weights 1000 bytes
	// second load from cache: true
}
