package modelio

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/modelio/safetensors"
	"github.com/tlgo/tl/tensor"
)

func mlp(t *testing.T, seed uint64, hidden int) (*graph.Graph, *layers.Layer) {
	t.Helper()
	g := graph.New(seed)
	in := layers.Input(g, "x", -1, 4)
	h := layers.Dense(in, "fc1", hidden, layers.ReLU)
	out := layers.Dense(h, "fc2", 3)
	if err := out.Err(); err != nil {
		t.Fatal(err)
	}
	return g, out
}

func forward(t *testing.T, g *graph.Graph, net *layers.Layer) []float32 {
	t.Helper()
	exe, err := g.NewExecutor(graph.Options{Threads: 1}, net.Output())
	if err != nil {
		t.Fatal(err)
	}
	defer exe.Close()
	x := tensor.New(tensor.Float32, 2, 4)
	for i := range x.Float32s() {
		x.Float32s()[i] = float32(i)/4 - 1
	}
	out, err := exe.Run(graph.Feed{Node: net.InputLayers()[0].Output(), Value: x})
	if err != nil {
		t.Fatal(err)
	}
	return slices.Clone(out[0].Float32s())
}

func TestSaveLoadRebuildsTheModelFromItsFiles(t *testing.T) {
	ctx := context.Background()
	g, net := mlp(t, 1, 5)
	want := forward(t, g, net)
	dir := filepath.Join(t.TempDir(), "model")
	if err := Save(ctx, dir, net, map[string]string{"epoch": "3"}); err != nil {
		t.Fatal(err)
	}
	// A fresh graph with another seed: only the files can make it agree.
	g2 := graph.New(99)
	net2, meta, err := Load(ctx, dir, g2)
	if err != nil {
		t.Fatal(err)
	}
	if meta["epoch"] != "3" {
		t.Fatalf("metadata %v", meta)
	}
	if got := forward(t, g2, net2); !slices.Equal(got, want) {
		t.Fatalf("rebuilt model computes %v, want %v", got, want)
	}
	for _, name := range []string{WeightsFile, ArchitectureFile} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Mode().Perm() != 0o644 {
			t.Fatalf("%s: %v, mode %v; want an ordinary 0644 file", name, err, st.Mode())
		}
	}
	f, err := safetensors.ReadFile(ctx, filepath.Join(dir, WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, x := range f.Tensors {
		names = append(names, x.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"fc1/W", "fc1/b", "fc2/W", "fc2/b"}) {
		t.Fatalf("tensors %v", names)
	}
}

func TestLoadWeightsListsEveryMismatchAndChangesNothing(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "w.safetensors")
	g, net := mlp(t, 1, 5)
	vars := net.AllParams()
	extra := g.Variable("extra/v", tensor.Zeros(), 2)
	if err := SaveWeights(ctx, path, append(vars[1:], extra), nil); err != nil { // no fc1/W
		t.Fatal(err)
	}
	_, net2 := mlp(t, 2, 6) // hidden 6: fc1/b and fc2/W differ in shape
	before := slices.Clone(net2.AllParams()[3].Tensor().Float32s())
	_, err := LoadWeights(ctx, path, net2.AllParams())
	var mm *MismatchError
	if !errors.As(err, &mm) || !errors.Is(err, ErrMismatch) {
		t.Fatalf("got %v, want a *MismatchError", err)
	}
	if !slices.Equal(mm.Missing, []string{"fc1/W"}) || !slices.Equal(mm.Unexpected, []string{"extra/v"}) || len(mm.Shapes) != 2 {
		t.Fatalf("missing %v unexpected %v shapes %v", mm.Missing, mm.Unexpected, mm.Shapes)
	}
	for _, s := range []string{"fc1/W", "extra/v", "fc1/b: file (5,), network (6,)", "fc2/W: file (5, 3), network (6, 3)", path} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
	// fc2/b matched, but nothing is loaded when anything mismatches.
	if !slices.Equal(net2.AllParams()[3].Tensor().Float32s(), before) {
		t.Fatal("a failed load changed a variable")
	}
	// With AllowUnused, the extra tensor is fine, the missing one is not.
	_, net3 := mlp(t, 3, 5)
	if _, err := LoadWeights(ctx, path, net3.AllParams(), AllowUnused()); !errors.As(err, &mm) || len(mm.Unexpected) != 0 || len(mm.Missing) != 1 {
		t.Fatalf("AllowUnused: %v", err)
	}
}

func TestLoadWeightsConvertsHalfPrecision(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "bf16.safetensors")
	// BF16 is the top half of a float32: 1.5 = 0x3fc0, -2 = 0xc000.
	err := safetensors.WriteFile(ctx, path, []safetensors.Tensor{{Name: "v", DType: safetensors.BF16, Shape: []int{2}, Data: []byte{0xc0, 0x3f, 0x00, 0xc0}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := graph.New(1)
	v := g.Variable("v", tensor.Zeros(), 2)
	if _, err := LoadWeights(ctx, path, []*graph.Node{v}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(v.Tensor().Float32s(), []float32{1.5, -2}) {
		t.Fatalf("got %v", v.Tensor().Float32s())
	}
	err = safetensors.WriteFile(ctx, path, []safetensors.Tensor{{Name: "v", DType: safetensors.I64, Shape: []int{2}, Data: make([]byte, 16)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadWeights(ctx, path, []*graph.Node{v}); !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "v: file I64, network float32") {
		t.Fatalf("I64 into float32: %v", err)
	}
}

func TestLoadCorruptFiles(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "m")
	_, net := mlp(t, 1, 5)
	if err := Save(ctx, dir, net, nil); err != nil {
		t.Fatal(err)
	}
	wpath := filepath.Join(dir, WeightsFile)
	raw, _ := os.ReadFile(wpath)
	os.WriteFile(wpath, raw[:len(raw)-10], 0o644)
	if _, _, err := Load(ctx, dir, graph.New(1)); !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), wpath) {
		t.Fatalf("truncated weights: %v", err)
	}
	os.WriteFile(wpath, raw, 0o644)
	apath := filepath.Join(dir, ArchitectureFile)
	os.WriteFile(apath, []byte(`{"format":"tlgo-layers/1","layers":[`), 0o644)
	if _, _, err := Load(ctx, dir, graph.New(1)); err == nil || !strings.Contains(err.Error(), apath) {
		t.Fatalf("corrupt architecture: %v", err)
	}
	if _, _, err := Load(ctx, filepath.Join(dir, "nope"), graph.New(1)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing folder: %v", err)
	}
}

// WriteWeights and ReadWeights carry weights through a stream, with no file:
// a fresh network of another seed computes what the first one did, and a
// network of another shape is refused with both shapes named, unchanged.
func TestWriteReadWeightsThroughAStream(t *testing.T) {
	g, net := mlp(t, 1, 5)
	want := forward(t, g, net)
	var buf bytes.Buffer
	if err := WriteWeights(&buf, net.AllParams(), map[string]string{"step": "7"}); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	g2, net2 := mlp(t, 2, 5)
	meta, err := ReadWeights(bytes.NewReader(b), net2.AllParams())
	if err != nil {
		t.Fatal(err)
	}
	if meta["step"] != "7" {
		t.Fatalf("metadata %v, want step 7", meta)
	}
	if got := forward(t, g2, net2); !slices.Equal(got, want) {
		t.Fatalf("after ReadWeights: %v, want %v", got, want)
	}
	g3, net3 := mlp(t, 3, 6)
	before := forward(t, g3, net3)
	_, err = DecodeWeights(b, net3.AllParams(), Source("model m v1"))
	var mm *MismatchError
	if !errors.As(err, &mm) || !strings.Contains(err.Error(), "model m v1") || !strings.Contains(err.Error(), "fc1/W: file (4, 5), network (4, 6)") {
		t.Fatalf("DecodeWeights into a wider network: %v; want a MismatchError naming model m v1 and fc1/W's two shapes", err)
	}
	if got := forward(t, g3, net3); !slices.Equal(got, before) {
		t.Fatal("a refused DecodeWeights changed the network")
	}
	if _, err := DecodeWeights(b[:len(b)-3], net2.AllParams(), Source("model m v1")); !errors.Is(err, safetensors.ErrFormat) || !strings.Contains(err.Error(), "model m v1") {
		t.Fatalf("truncated bytes: %v; want a format error naming the source", err)
	}
}
