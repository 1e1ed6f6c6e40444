package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/tlgo/tl/examples/internal/rlmain"
)

// The example reaches 195 with its defaults, unrecorded, and draws its curve.
func TestReaches195(t *testing.T) {
	f := defaults()
	f.Minutes = 1
	f.Plot = filepath.Join(t.TempDir(), "curve.png")
	s, err := rlmain.Run(context.Background(), setup(), &f, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", *s)
	if s.Return100 < 195 {
		t.Fatalf("mean return of the last 100 episodes %.1f, want >= 195", s.Return100)
	}
	if st, err := os.Stat(f.Plot); err != nil || st.Size() < 1000 {
		t.Fatalf("plot: %v", err)
	}
}
