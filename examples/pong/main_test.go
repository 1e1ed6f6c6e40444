package main

import (
	"context"
	"log/slog"
	"testing"

	"github.com/tlgo/tl/examples/internal/rlmain"
)

// A few updates run end to end, and finished games have returns in [−21, 21].
func TestShortRun(t *testing.T) {
	s, err := game{size: 40, skip: 4, hidden: 32}.setup()
	if err != nil {
		t.Fatal(err)
	}
	f := defaults()
	f.Minutes, f.Updates, f.Envs, f.Unroll = 0, 40, 4, 20
	f.Batch = 4
	sum, err := rlmain.Run(context.Background(), s, &f, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Updates != 40 || sum.Samples != 40*4*20 {
		t.Fatalf("%+v", *sum)
	}
	if sum.Episodes > 0 && (sum.Return100 < -21 || sum.Return100 > 21) {
		t.Fatalf("mean return %v outside [-21, 21]", sum.Return100)
	}
	if _, err := (game{size: 30, skip: 1, hidden: 8}).setup(); err == nil {
		t.Fatal("size 30 accepted")
	}
}
