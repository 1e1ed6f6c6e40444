package graph_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/graph/gradcheck"
	"github.com/tlgo/tl/tensor"
)

// transposeRef permutes by multi-indices, the slow obvious way.
func transposeRef(x []float32, s []int, perm []int) []float32 {
	r := len(s)
	out := make([]int, r)
	for i, p := range perm {
		out[i] = s[p]
	}
	n := len(x)
	d := make([]float32, n)
	idx := make([]int, r)
	for o := 0; o < n; o++ {
		q := o
		for k := r - 1; k >= 0; k-- {
			idx[k] = q % out[k]
			q /= out[k]
		}
		src := 0
		in := make([]int, r)
		for k, p := range perm {
			in[p] = idx[k]
		}
		for k := 0; k < r; k++ {
			src = src*s[k] + in[k]
		}
		d[o] = x[src]
	}
	return d
}

var transposeCases = []struct {
	shape, perm []int
}{
	{[]int{3, 5}, []int{1, 0}},
	{[]int{1, 7}, []int{1, 0}},
	{[]int{33, 65}, []int{1, 0}},
	{[]int{2, 3, 4}, []int{0, 2, 1}},
	{[]int{2, 3, 4}, []int{2, 0, 1}},
	{[]int{2, 3, 4}, []int{1, 0, 2}},
	{[]int{2, 3, 4}, []int{0, 1, 2}},
	{[]int{2, 1, 3, 5}, []int{0, 2, 3, 1}},
	{[]int{3, 2, 4, 5}, []int{3, 1, 0, 2}},
	{[]int{4, 3, 5}, []int{1, 0, 2}}, // (batch, time, features) to time-major
}

func TestTransposeForward(t *testing.T) {
	for _, c := range transposeCases {
		g := graph.New(1)
		xt := gradcheck.Rand(1, -1, 1, c.shape...)
		y := graph.Transpose(g.Const(xt), c.perm...)
		p, err := g.Compile(graph.Options{}, nil, y)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Run(); err != nil {
			t.Fatal(err)
		}
		want := transposeRef(xt.Float32s(), c.shape, c.perm)
		for i, v := range p.Outputs()[0].Float32s() {
			if v != want[i] {
				t.Fatalf("%v perm %v: element %d = %v, want %v", c.shape, c.perm, i, v, want[i])
			}
		}
		p.Close()
	}
	// Hand-computed: [[1 2 3] [4 5 6]]ᵀ, and int32 data.
	g := graph.New(1)
	it, _ := tensor.FromInt32([]int32{1, 2, 3, 4, 5, 6}, 2, 3)
	y := graph.Transpose(g.Const(it))
	p, err := g.Compile(graph.Options{}, nil, y)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(p.Outputs()[0].Int32s(), p.Outputs()[0].Shape()); got != "[1 4 2 5 3 6] (3, 2)" {
		t.Fatalf("int32 transpose = %s", got)
	}
}

func TestTransposeGradients(t *testing.T) {
	var cases []gcase
	for _, c := range transposeCases {
		c := c
		cases = append(cases, gcase{fmt.Sprint(c.shape, c.perm), []*tensor.Tensor{r(1, c.shape...)},
			func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.Transpose(in[0], c.perm...) }})
	}
	runCases(t, cases)
}

func TestTransposeBadPerm(t *testing.T) {
	g := graph.New(1)
	x := g.Placeholder("x", tensor.Float32, -1, 3, 4)
	for _, perm := range [][]int{{0, 1}, {0, 1, 1}, {0, 3, 1}} {
		n := graph.Transpose(x, perm...)
		if n.Err() == nil || !strings.Contains(n.Err().Error(), "Transpose") || !strings.Contains(n.Err().Error(), "(?, 3, 4)") {
			t.Errorf("perm %v on (?, 3, 4): got %v", perm, n.Err())
		}
	}
}

func ExampleTranspose() {
	g := graph.New(1)
	x := g.Placeholder("x", tensor.Float32, -1, 20, 8) // (batch, time, features)
	fmt.Println(graph.Transpose(x, 1, 0, 2).Shape(), graph.Transpose(x).Shape())
	// Output: (20, ?, 8) (8, 20, ?)
}

// Transposing back to the original order returns the original node (no kernel);
// any other composition stays two transposes.
func TestTransposeOfTransposeCancels(t *testing.T) {
	g := graph.New(1)
	x := g.Placeholder("x", tensor.Float32, 2, 3, 4)
	y := graph.Transpose(x, 1, 0, 2)
	if back := graph.Transpose(y, 1, 0, 2); back != x {
		t.Errorf("graph.Transpose(graph.Transpose(x, 1,0,2), 1,0,2) = %v, want x itself", back)
	}
	z := graph.Transpose(x, 1, 2, 0)
	if back := graph.Transpose(z, 2, 0, 1); back != x {
		t.Errorf("graph.Transpose(graph.Transpose(x, 1,2,0), 2,0,1) = %v, want x itself", back)
	}
	if other := graph.Transpose(z, 1, 2, 0); other == x || other.Op().Type() != "Transpose" {
		t.Errorf("a non-inverse composition was simplified: %v", other)
	}
	if err := g.Err(); err != nil {
		t.Fatal(err)
	}
}
