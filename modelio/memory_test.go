package modelio

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
)

// An architecture.json that declares a layer of 10^6 × 1000 weights beside a
// weights file of a few hundred bytes fails before the 4 GB are allocated: the
// architecture may not declare more than the weights file can hold.
func TestLoadArchitectureBoundedByWeights(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "m")
	_, net := mlp(t, 1, 5)
	if err := Save(ctx, dir, net, nil); err != nil {
		t.Fatal(err)
	}
	arch := `{"format":"tlgo-layers/1","layers":[` +
		`{"name":"x","kind":"Input","config":{"shape":[-1,1000],"dtype":"float32"}},` +
		`{"name":"fc1","kind":"Dense","inputs":[0],"config":{"units":1000000}}]}`
	if err := os.WriteFile(filepath.Join(dir, ArchitectureFile), []byte(arch), 0o644); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, _, err := Load(ctx, dir, graph.New(1))
	runtime.ReadMemStats(&after)
	if !errors.Is(err, layers.ErrBadConfig) || !strings.Contains(err.Error(), "fc1/W") || !strings.Contains(err.Error(), "over the limit") {
		t.Fatalf("Load = %v; want a parameter limit error naming fc1/W", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 10<<20 {
		t.Fatalf("allocated %d bytes", n)
	}
}
