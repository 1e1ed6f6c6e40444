package sweep_test

import (
	"os"
	"path/filepath"
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
			_, err = sweep.Parse(data, f)
		}
		if err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
