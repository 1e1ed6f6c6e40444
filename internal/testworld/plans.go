package testworld

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/task"
)

// CheckPlans parses the example plan files that pattern matches (at least
// min of them) and checks that each task names a kind reg registers, with
// parameters the kind takes: the master would accept the plans as written.
// more, when not nil, checks each plan that parses further.
func CheckPlans(t *testing.T, pattern string, min int, reg *task.Registry, more func(file string, text []byte, p *plan.Spec)) {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) < min {
		t.Fatalf("example plans %s: %v %v; want %d or more", pattern, files, err, min)
	}
	specs := map[string]task.KindSpec{}
	for _, s := range reg.Specs() {
		specs[s.Kind] = s
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p, err := plan.Parse(b, f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		for _, ts := range p.Tasks {
			s, ok := specs[ts.Kind]
			if !ok {
				t.Errorf("%s: task %s: kind %q is not registered", f, ts.ID, ts.Kind)
				continue
			}
			if err := s.CheckParams(ts.Params); err != nil {
				t.Errorf("%s: task %s: %v", f, ts.ID, err)
			}
		}
		if more != nil {
			more(f, b, p)
		}
	}
}
