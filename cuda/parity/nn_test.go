package parity

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tlgo/tl/cuda/cudatest"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/tensor"
)

// Parity of ops_nn.go (BiasAct with each activation, reductions over every axis
// pattern with their gradient ops, Softmax, LogSoftmax, SoftmaxGrad) and
// ops_loss.go (the cross-entropies and their gradients, CountScale, Gather).

var nnActs = []graph.Activation{graph.Identity, graph.ReluAct, graph.SigmoidAct, graph.TanhAct}

func TestBiasAct(t *testing.T) {
	shapes := [][]int{{3, 37}, {128, 384}, {2, 5, 7, 10}, {70001, 3}}
	var cases []Case
	for _, a := range nnActs {
		for _, s := range shapes {
			a := a
			cases = append(cases, Case{Name: a.String() + nnShape(s), In: []In{{Shape: s}, {Shape: s[len(s)-1:]}},
				Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.BiasAct(in[0], in[1], a) }})
		}
	}
	// In place: the bias-act overwrites a dead input.
	cases = append(cases, Case{Name: "InPlace", In: []In{{Shape: []int{33, 65}}, {Shape: []int{65}}},
		Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return graph.BiasAct(graph.Scale(in[0], 2), in[1], graph.TanhAct)
		}})
	Run(t, cases...)
}

// nnShape names a case by its shape.
func nnShape(s []int) string {
	var b strings.Builder
	for _, d := range s {
		fmt.Fprintf(&b, "_%d", d)
	}
	return b.String()
}

func TestReduce(t *testing.T) {
	patterns := []struct {
		name  string
		shape []int
		axes  []int
	}{
		{"All", []int{3, 37}, nil},
		{"AllLarge", []int{300001}, nil},
		{"Rows", []int{300, 37}, []int{1}},
		{"WideRows", []int{5, 3001}, []int{-1}},
		{"Columns", []int{300, 37}, []int{0}},
		{"ColumnsTall", []int{9001, 65}, []int{0}},
		{"Middle", []int{3, 17, 5}, []int{1}},
		{"Outer2", []int{4, 6, 5, 3}, []int{0, 1}},
		{"Alternate", []int{3, 4, 5, 6, 7}, []int{0, 2, 4}},
		{"AlternateKept", []int{3, 4, 5, 6}, []int{1, 3}},
		{"SizeOne", []int{7, 1, 9}, []int{1}},
		{"Channels", []int{4, 7, 9, 11}, []int{0, 1, 2}},
	}
	kinds := []struct {
		name string
		f    func(x *graph.Node, axes ...int) *graph.Node
	}{
		{"Sum", graph.ReduceSum}, {"Mean", graph.ReduceMean}, {"Max", graph.ReduceMax},
	}
	var cases []Case
	for _, k := range kinds {
		for _, p := range patterns {
			f, axes := k.f, p.axes
			// A sum of 300001 terms of either sign cancels to about √n: float32
			// partial sums in another order than the CPU's differ by ~1e-5 of it.
			tol := 0.0
			if p.name == "AllLarge" {
				tol = 1e-4
			}
			cases = append(cases, Case{Name: k.name + p.name, In: []In{{Shape: p.shape}}, Tol: tol,
				Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return f(in[0], axes...) }})
		}
	}
	Run(t, cases...)
}

func TestSoftmax(t *testing.T) {
	shapes := [][]int{{1, 10}, {128, 10}, {37, 513}, {3, 4, 1001}, {2, 5000}, {3000, 7}}
	var cases []Case
	for _, s := range shapes {
		cases = append(cases,
			Case{Name: "Softmax" + nnShape(s), In: []In{{Shape: s, Lo: -5, Hi: 5}},
				Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.Softmax(in[0]) }},
			Case{Name: "LogSoftmax" + nnShape(s), In: []In{{Shape: s, Lo: -5, Hi: 5}},
				Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.LogSoftmax(in[0]) }})
	}
	cases = append(cases, Case{Name: "InPlace", In: []In{{Shape: []int{33, 65}}},
		Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.Softmax(graph.Scale(in[0], 3)) }})
	Run(t, cases...)
}

func TestCrossEntropy(t *testing.T) {
	xent := func(n, c int) Case {
		return Case{Name: "Sparse" + nnShape([]int{n, c}), In: []In{{Shape: []int{n, c}, Lo: -4, Hi: 4}, {Shape: []int{n}, Int: c}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
				return graph.SparseSoftmaxCrossEntropy(in[0], in[1])
			}}
	}
	sig := func(s []int) Case {
		return Case{Name: "Sigmoid" + nnShape(s), In: []In{{Shape: s, Lo: -6, Hi: 6}, {Shape: s, Lo: 0.001, Hi: 1}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.SigmoidCrossEntropy(in[0], in[1]) }}
	}
	Run(t, xent(1, 10), xent(128, 10), xent(7, 1000), xent(3000, 3), xent(5, 3001), xent(25000, 3),
		sig([]int{1}), sig([]int{37, 5}), sig([]int{300001}),
		Case{Name: "MSE", In: []In{{Shape: []int{17, 9}}, {Shape: []int{17, 9}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.MeanSquaredError(in[0], in[1]) }})
}

func TestGather(t *testing.T) {
	gather := func(p, idx []int) Case {
		return Case{Name: nnShape(p) + "_by" + nnShape(idx), In: []In{{Shape: p}, {Shape: idx, Int: p[0]}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.Gather(in[0], in[1]) }}
	}
	Run(t, gather([]int{10, 3}, []int{4}), gather([]int{1000, 65}, []int{20, 35}), gather([]int{50}, []int{300}),
		gather([]int{7, 3, 5}, []int{2, 2}))
}

// badIndex runs out(in) on the device with int input values set to bad and
// returns the run's error.
func badIndex(t *testing.T, build func(g *graph.Graph, f, i *graph.Node) *graph.Node, fShape, iShape []int, bad map[int]int32) error {
	t.Helper()
	dev := cudatest.Open(t)
	g := graph.New(1)
	f := g.Placeholder("f", tensor.Float32, fShape...)
	i := g.Placeholder("i", tensor.Int32, iShape...)
	out := build(g, f, i)
	od := g.OnDevice(dev)
	defer od.Close()
	dp, err := od.Compile(graph.DeviceOptions{}, map[*graph.Node]tensor.Shape{f: fShape, i: iShape}, out)
	if err != nil {
		t.Fatalf("device compile: %v", err)
	}
	it := tensor.New(tensor.Int32, iShape...)
	for k, v := range bad {
		it.Int32s()[k] = v
	}
	if err := dp.Input(i).CopyFrom(it); err != nil {
		t.Fatal(err)
	}
	if err := dp.Input(f).CopyFrom(tensor.New(tensor.Float32, fShape...)); err != nil {
		t.Fatal(err)
	}
	return dp.Run()
}

func TestBadIndices(t *testing.T) {
	err := badIndex(t, func(g *graph.Graph, f, i *graph.Node) *graph.Node { return graph.Gather(f, i) },
		[]int{5, 3}, []int{300}, map[int]int32{200: 5, 250: -1})
	if err == nil || !strings.Contains(err.Error(), "position 200 is outside [0, 5)") {
		t.Errorf("Gather with index 5 of 5 rows at 200: got error %v", err)
	}
	err = badIndex(t, func(g *graph.Graph, f, i *graph.Node) *graph.Node {
		return graph.SparseSoftmaxCrossEntropy(f, i)
	}, []int{3000, 4}, []int{3000}, map[int]int32{2999: 4})
	if err == nil || !strings.Contains(err.Error(), "row 2999 is outside [0, 4)") {
		t.Errorf("cross-entropy with label 4 of 4 classes at row 2999: got error %v", err)
	}
}
