package models

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// A model document read back from the store, whatever its bytes, decodes to a
// model that is whole (a name, a version, a weights file with a size and a
// SHA-256, an architecture that is JSON) or to an error wrapping ErrCorrupt;
// what decodes survives a round trip through BSON.
func FuzzDecode(f *testing.F) {
	good := Model{
		ID: modelID("p", "cnn", 3), Project: "p", Name: "cnn", Version: 3,
		Architecture: json.RawMessage(`{"format":"tlgo-layers/1","layers":[]}`),
		Params:       map[string]any{"lr": 0.01, "layers": bson.A{int64(32), int64(64)}, "opt": "adam"},
		Metrics:      map[string]float64{"accuracy": 0.91, "loss": 0.3},
		Lineage:      Lineage{Dataset: "fashion", Task: "train-1", Run: "r1", Parent: "x"},
		Created:      time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC),
		Weights:      Weights{FileID: bson.NewObjectIDFromTimestamp(time.Unix(1, 0)), Size: 1234, SHA256: strings.Repeat("ab", 32), Format: "safetensors"},
	}
	for _, m := range []Model{good, {ID: "x", Name: "n", Version: 1, Architecture: json.RawMessage("null"), Weights: good.Weights}} {
		b, err := bson.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	bad, _ := bson.Marshal(bson.D{{Key: "_id", Value: "x"}, {Key: "name", Value: "n"}, {Key: "version", Value: "one"}})
	f.Add(bad)
	huge, _ := bson.Marshal(bson.D{{Key: "name", Value: "n"}, {Key: "version", Value: int64(1)},
		{Key: "weights", Value: bson.D{{Key: "file_id", Value: good.Weights.FileID}, {Key: "size", Value: int64(-1)}, {Key: "sha256", Value: good.Weights.SHA256}}}})
	f.Add(huge)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decode(bson.Raw(b))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if m.Name == "" || m.Version <= 0 || m.Weights.FileID.IsZero() || m.Weights.Size < 0 || len(m.Weights.SHA256) != 64 {
			t.Fatalf("decode accepted an incomplete model: %+v", m)
		}
		if len(m.Architecture) > 0 && !json.Valid(m.Architecture) {
			t.Fatalf("decode accepted an architecture that is not JSON: %q", m.Architecture)
		}
		enc, err := bson.Marshal(m)
		if err != nil {
			t.Fatalf("bson.Marshal of a decoded model: %v", err)
		}
		again, err := decode(enc)
		if err != nil {
			t.Fatalf("decoding a re-encoded model: %v", err)
		}
		// Params hold any BSON value (NaN among them): compared by key; the
		// rest exactly, NaN metrics as NaN.
		a, c := *m, *again
		if len(a.Params) != len(c.Params) {
			t.Fatalf("round trip changed the params: %v, %v", a.Params, c.Params)
		}
		for k := range a.Params {
			if _, ok := c.Params[k]; !ok {
				t.Fatalf("round trip lost param %q", k)
			}
		}
		if len(a.Metrics) != len(c.Metrics) {
			t.Fatalf("round trip changed the metrics: %v, %v", a.Metrics, c.Metrics)
		}
		for k, v := range a.Metrics {
			if w, ok := c.Metrics[k]; !ok || math.Float64bits(v) != math.Float64bits(w) && !(math.IsNaN(v) && math.IsNaN(w)) {
				t.Fatalf("round trip changed metric %q: %v, %v", k, v, w)
			}
		}
		a.Params, c.Params, a.Metrics, c.Metrics = nil, nil, nil, nil
		if !reflect.DeepEqual(a, c) {
			t.Fatalf("round trip changed the model:\n%#v\n%#v", a, c)
		}
	})
}
