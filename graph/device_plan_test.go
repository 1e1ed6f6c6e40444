package graph_test

import (
	"strings"
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/tensor"
)

// cpuOnlyOp is a user's op with a CPU kernel and no device kernel.
type cpuOnlyOp struct{}

func (cpuOnlyOp) Type() string { return "CPUOnly" }
func (cpuOnlyOp) Infer(in []graph.Value) (graph.Value, error) {
	return in[0], nil
}
func (cpuOnlyOp) Compile(_ *graph.KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (graph.Kernel, error) {
	return graph.KernelFunc(func() { copy(out.Float32s(), in[0].Float32s()) }), nil
}

// A graph with an op that has no device kernel is refused at compile time, with
// the op's type and node, before any device memory is taken (the nil device is
// never called).
func TestDeviceCompileNamesMissingKernels(t *testing.T) {
	g := graph.New(1)
	x := g.Placeholder("x", tensor.Float32, -1, 3)
	y := graph.Relu(g.Apply(cpuOnlyOp{}, x))
	_, err := g.OnDevice(nil).Compile(graph.DeviceOptions{}, map[*graph.Node]tensor.Shape{x: {2, 3}}, y)
	if err == nil || !strings.Contains(err.Error(), "no device kernel") || !strings.Contains(err.Error(), "CPUOnly") {
		t.Fatalf("err = %v, want it to name the op without a device kernel", err)
	}
	if _, err := g.OnDevice(nil).Compile(graph.DeviceOptions{}, nil); err == nil {
		t.Error("a device compile with no targets was accepted")
	}
}
