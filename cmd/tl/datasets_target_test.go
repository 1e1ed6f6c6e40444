package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/dataset"
	"github.com/tlgo/tl/store/storetest"
)

// tl datasets NAME counts the samples per target shape when samples carry
// targets, and says nothing of targets when none does.
func TestDatasetShowsTargets(t *testing.T) {
	t.Setenv("TL_HOME", t.TempDir())
	t.Setenv("TL_MONGO_URL", "")
	t.Setenv("TL_PROJECT", "")
	db := storetest.Backends()[0].OpenConfig(t, store.Config{Project: "reg"})
	ctx := storetest.Context(t)
	c, err := dataset.Open(ctx, db, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	x := dataset.Float32Tensor([]int{1}, []float32{1})
	if _, err := c.Insert(ctx,
		dataset.Sample{Key: "a", Tensor: x, Target: dataset.Float32Tensor([]int{2}, []float32{1, 2}), Tags: []string{"t"}},
		dataset.Sample{Key: "b", Tensor: x, Target: dataset.Float32Tensor([]int{2}, []float32{3, 4}), Tags: []string{"t"}},
		dataset.Sample{Key: "c", Tensor: x, Tags: []string{"t", "plain"}},
	); err != nil {
		t.Fatal(err)
	}
	for name, q := range map[string]dataset.Query{"all": {Tags: []string{"t"}}, "plain": {Tags: []string{"plain"}}} {
		if _, err := c.Define(ctx, name, q); err != nil {
			t.Fatal(err)
		}
	}
	conn := []string{"--mongo", dbURL(db), "--project", "reg"}
	code, out, errOut := runTL(append([]string{"datasets", "all"}, conn...)...)
	var lines []string
	for l := range strings.SplitSeq(out, "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	if norm := strings.Join(lines, "\n"); code != 0 || !strings.Contains(norm, "TARGET SHAPE SAMPLES\n(none) - 1\nfloat32 [2] 2\n") {
		t.Errorf("tl datasets all: exit %d, %s; want the target table:\n%s", code, errOut, out)
	}
	code, out, _ = runTL(append([]string{"datasets", "all", "--json"}, conn...)...)
	var js struct{ Targets []dataset.TargetCount }
	if err := json.Unmarshal([]byte(out), &js); code != 0 || err != nil || len(js.Targets) != 2 || js.Targets[1].Kind != dataset.Float32 || js.Targets[1].Count != 2 {
		t.Errorf("tl datasets all --json: exit %d, %v, %+v\n%s", code, err, js, out)
	}
	code, out, _ = runTL(append([]string{"datasets", "plain", "--json"}, conn...)...)
	if code != 0 || strings.Contains(out, "targets") {
		t.Errorf("tl datasets plain --json: exit %d; want no targets field:\n%s", code, out)
	}
}
