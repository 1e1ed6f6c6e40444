package dataset_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlgo/tl/store/dataset"
	"github.com/tlgo/tl/store/storetest"
)

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "s.jsonl")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A JSONL file imports feature vectors with targets or class ids; a rerun
// skips them; a line without a key is keyed by its number.
func TestImportJSONL(t *testing.T) {
	ctx := storetest.Context(t)
	c := open(t, storetest.Backends()[0], dataset.Options{})
	p := writeFile(t, `{"key":"a","x":[1,2,3],"target":[0.5,-1]}

{"key":"b","x":[4,5,6,7],"shape":[2,2],"dtype":"uint8","label":3,"label_name":"three","tags":["img"],"fields":{"src":"cam"}}
{"x":[1],"target":[2],"target_shape":[]}
`)
	st, err := dataset.ImportJSONL(ctx, c, p, dataset.ImportOptions{Tags: []string{"j"}, Quiet: true})
	if err != nil || st.Inserted != 3 {
		t.Fatalf("import: %+v, %v; want 3 inserted", st, err)
	}
	a, err := c.Get(ctx, "a")
	if err != nil || a.Tensor.DType != dataset.Float32 || len(a.Tensor.Float32) != 3 || a.Target == nil || a.Target.Float32[1] != -1 {
		t.Fatalf("sample a: %+v, %v", a, err)
	}
	b, err := c.Get(ctx, "b")
	if err != nil || b.Tensor.DType != dataset.Uint8 || b.Tensor.Shape[1] != 2 || b.Label != 3 || b.LabelName != "three" || b.Target != nil ||
		len(b.Tags) != 2 || b.Fields["src"] != "cam" {
		t.Fatalf("sample b: %+v, %v", b, err)
	}
	s, err := c.Get(ctx, "00000004")
	if err != nil || s.Target == nil || len(s.Target.Shape) != 0 || s.Target.Float32[0] != 2 {
		t.Fatalf("sample of line 4 (no key, a scalar target): %+v, %v", s, err)
	}
	if st, err := dataset.ImportJSONL(ctx, c, p, dataset.ImportOptions{SkipExisting: true, Quiet: true}); err != nil || st.Skipped != 3 {
		t.Fatalf("rerun: %+v, %v; want 3 skipped", st, err)
	}
}

// A bad line fails the import naming the file's line, before anything is
// written, even when it comes after good ones.
func TestImportJSONLBadLinesWriteNothing(t *testing.T) {
	ctx := storetest.Context(t)
	c := open(t, storetest.Backends()[0], dataset.Options{})
	good := `{"key":"ok","x":[1,2]}` + "\n"
	for name, tc := range map[string]struct{ line, want string }{
		"unknown field": {`{"key":"k","x":[1],"targt":[1]}`, `line 2: json: unknown field "targt"`},
		"no x":          {`{"key":"k"}`, `line 2: "x" missing`},
		"target shape":  {`{"key":"k","x":[1],"target":[1,2,3],"target_shape":[2]}`, `line 2: invalid sample: sample "k": target: tensor shape [2] holds 2 float32 values, got 3`},
		"uint8 range":   {`{"key":"k","x":[300],"dtype":"uint8"}`, `line 2: "x" element 0 is 300: expected a uint8`},
		"dtype":         {`{"key":"k","x":[1],"dtype":"float16"}`, `line 2: "dtype" "float16"`},
		"duplicate key": {`{"key":"ok","x":[1]}`, `line 2: key "ok" is the key of line 1 too`},
		"not json":      {`{"key":`, `line 2:`},
	} {
		_, err := dataset.ImportJSONL(ctx, c, writeFile(t, good+tc.line+"\n"), dataset.ImportOptions{Quiet: true})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an error saying %q", name, err, tc.want)
		}
		if name == "duplicate key" && !errors.Is(err, dataset.ErrDuplicateKey) {
			t.Errorf("duplicate key: %v does not wrap ErrDuplicateKey", err)
		}
	}
	if k, err := c.Counter(ctx); err != nil || k.Seq != 0 {
		t.Fatalf("counter %+v, %v after refused imports; want nothing written", k, err)
	}
}
