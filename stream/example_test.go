package stream_test

import (
	"context"
	"fmt"
	"os"

	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/dataset"
	"github.com/tlgo/tl/stream"
)

// Trigger a training task once 5 new training samples have arrived.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	db, err := store.Open(ctx, store.Config{DataDir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close(ctx)
	samples, _ := dataset.Open(ctx, db, dataset.Options{})
	train, _ := samples.Define(ctx, "train", dataset.Query{Tags: []string{"train"}})

	ctl, err := stream.New(ctx, db, stream.Config{
		Name:     "retrain",
		Sources:  []stream.Source{{Name: "samples", Dataset: train}},
		MinCount: 5,
		Trigger: stream.TriggerFunc(func(ctx context.Context, ev stream.Event) error {
			ch := ev.Changes[0]
			fmt.Printf("train on %d new samples, seq (%d, %d]\n", ev.Total, ch.After, ch.UpTo)
			return nil // the workflow would enqueue a task here
		}),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for i := range 7 {
		samples.Insert(ctx, dataset.Sample{Key: fmt.Sprint(i), Bytes: []byte{byte(i)}, Tags: []string{"train"}})
		if _, err := ctl.Step(ctx); err != nil { // Run(ctx) polls in a loop
			fmt.Println(err)
		}
	}
	fmt.Println("position:", ctl.Position()["samples"])
	// Output:
	// train on 5 new samples, seq (0, 5]
	// position: 5
}
