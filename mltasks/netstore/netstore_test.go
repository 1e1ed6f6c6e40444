package netstore_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/mltasks/netstore"
	"github.com/tlgo/tl/modelio"
	"github.com/tlgo/tl/store/models"
	"github.com/tlgo/tl/store/storetest"
)

func mlp(g *graph.Graph, hidden int) *layers.Layer {
	x := layers.Input(g, "x", -1, 4)
	h := layers.Dense(x, "fc1", hidden, layers.ReLU)
	return layers.Dense(h, "fc2", 3)
}

func TestSaveAndRebuild(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		s, err := models.New(ctx, b.Open(t), models.Options{CacheDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		trained := mlp(graph.New(1), 8)
		m, err := netstore.Save(ctx, s, models.Spec{Name: "mlp", Metrics: map[string]float64{"accuracy": 0.8}}, trained)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(m.Architecture) || len(m.Architecture) < 10 {
			t.Fatalf("architecture not stored: %s", m.Architecture)
		}
		rebuilt, got, err := netstore.Load(ctx, s, models.Ref{Name: "mlp"}, graph.New(2))
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != 1 || rebuilt.Shape().String() != trained.Shape().String() {
			t.Fatalf("rebuilt v%d with shape %v, want v1 %v", got.Version, rebuilt.Shape(), trained.Shape())
		}
		want, have := trained.AllParams(), rebuilt.AllParams()
		if len(want) != len(have) {
			t.Fatalf("%d parameters rebuilt, want %d", len(have), len(want))
		}
		for i := range want {
			a, b := want[i].Tensor().Float32s(), have[i].Tensor().Float32s()
			if want[i].Name() != have[i].Name() || len(a) != len(b) {
				t.Fatalf("parameter %d: %s (%d) vs %s (%d)", i, want[i].Name(), len(a), have[i].Name(), len(b))
			}
			for j := range a {
				if a[j] != b[j] {
					t.Fatalf("%s[%d] = %v, saved %v", have[i].Name(), j, b[j], a[j])
				}
			}
		}
		// Weights of another shape are refused by name, not loaded half.
		other := mlp(graph.New(3), 16)
		if _, err := netstore.Save(ctx, s, models.Spec{Name: "wide"}, other); err != nil {
			t.Fatal(err)
		}
		bad, err := s.Load(ctx, models.Ref{Name: "wide"})
		if err != nil {
			t.Fatal(err)
		}
		// Claim the narrow architecture with the wide weights.
		m2, err := s.Save(ctx, models.Spec{Name: "mixed", Architecture: m.Architecture}, bytesReader(bad.Weights))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := netstore.Load(ctx, s, models.Ref{Name: "mixed", Version: m2.Version}, graph.New(4)); !errors.Is(err, modelio.ErrMismatch) {
			t.Fatalf("rebuild with mismatched weights = %v, want ErrMismatch", err)
		}
	})
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
