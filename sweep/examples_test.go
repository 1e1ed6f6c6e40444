package sweep_test

import (
	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/mltasks"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tlgo/tl/sweep"
)

// The spec files of examples/sweep parse and validate as written.
func TestExampleSpecs(t *testing.T) {
	files, err := filepath.Glob("../examples/sweep/*.yaml")
	if err != nil || len(files) < 4 {
		t.Fatalf("example specs: %v, %v", files, err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, "cv.yaml") {
			_, err = sweep.ParseCV(data, f)
		} else {
			var sp *sweep.Spec
			if sp, err = sweep.Parse(data, f); err == nil {
				// Every parameter searched is one the train kind takes.
				for name := range sp.Space {
					if !slices.Contains(trainParams(t), name) {
						t.Errorf("%s: space parameter %q is not a parameter of the train kind (%v)", f, name, trainParams(t))
					}
				}
			}
		}
		if err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// trainParams are the parameter fields the train kind announces.
func trainParams(t *testing.T) []string {
	t.Helper()
	reg := task.NewRegistry()
	if err := mltasks.Register(reg); err != nil {
		t.Fatal(err)
	}
	for _, k := range reg.Specs() {
		if k.Kind == "train" {
			return k.Params
		}
	}
	t.Fatal("no train kind")
	return nil
}
