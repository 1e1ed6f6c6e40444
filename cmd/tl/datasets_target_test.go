package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlgo/tl/store/dataset"
	"github.com/tlgo/tl/store/storetest"
)

// tl datasets NAME counts the samples per target shape when samples carry
// targets, and says nothing of targets when none does.
func TestDatasetShowsTargets(t *testing.T) {
	db, conn := isolatedStore(t, storetest.Backends()[0], "reg")
	ctx := storetest.Context(t)
	c := openSamples(t, db)
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

// tl import jsonl stores targets that tl datasets then shows; a bad line
// fails naming it, with nothing written.
func TestImportJSONLCommand(t *testing.T) {
	_, conn := isolatedStore(t, storetest.Backends()[0], "reg")
	conn = append(conn, "--quiet")
	dir := t.TempDir()
	good := filepath.Join(dir, "good.jsonl")
	bad := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(good, []byte(`{"x":[1,2],"target":[3]}`+"\n"+`{"x":[3,4],"target":[7]}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(`{"key":"z","x":[1,2],"target":[3]}`+"\n"+`{"x":[1],"target":[1],"target_shape":[2]}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runTL(append([]string{"import", "jsonl", bad, "--tags", "bad"}, conn...)...)
	if code != 1 || !strings.Contains(errOut, "line 2") || !strings.Contains(errOut, "target") {
		t.Errorf("tl import jsonl of a bad file: exit %d, %q %q; want exit 1 naming line 2 and its target", code, out, errOut)
	}
	code, out, errOut = runTL(append([]string{"import", "jsonl", good, "--tags", "reg", "--define", "reg"}, conn...)...)
	if code != 0 || !strings.Contains(out, "inserted 2, skipped 0") || !strings.Contains(out, "defined dataset reg") {
		t.Fatalf("tl import jsonl: exit %d, %s%s", code, out, errOut)
	}
	code, out, _ = runTL(append([]string{"datasets", "reg", "--json"}, conn[:4]...)...)
	var js struct {
		Samples int64
		Targets []dataset.TargetCount
	}
	if err := json.Unmarshal([]byte(out), &js); code != 0 || err != nil || js.Samples != 2 || len(js.Targets) != 1 || js.Targets[0].Count != 2 {
		t.Errorf("tl datasets reg --json after the import: exit %d, %v, %+v\n%s", code, err, js, out)
	}
	if code, out, _ = runTL(append([]string{"datasets", "--json"}, conn[:4]...)...); code != 0 || !strings.Contains(out, `"all": 2`) {
		t.Errorf("tl datasets --json: want 2 samples in all (none from the bad file):\n%s", out)
	}
}
