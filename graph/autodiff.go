package graph

import (
	"fmt"

	"github.com/tlgo/tl/tensor"
)

// Gradients returns the gradient of the scalar y with respect to each of xs, built
// as new nodes of the graph (reverse-mode automatic differentiation: the backward
// graph is an ordinary graph, compiled and planned with the forward one).
//
// A gradient is nil when y does not depend on that x. The gradient of a variable
// read only through Gather is sparse (see IsSparse): optimizers apply it to the
// rows it touches.
func Gradients(y *Node, xs ...*Node) ([]*Node, error) {
	g := y.g
	if g.err != nil {
		return nil, fmt.Errorf("graph: Gradients on a graph with a building error: %w", g.err)
	}
	if y.err != nil {
		return nil, fmt.Errorf("graph: Gradients of a failed node: %w", y.err)
	}
	if y.value.Shape.Size() != 1 || y.value.DType != tensor.Float32 {
		return nil, fmt.Errorf("graph: Gradients: y %s must be a float32 scalar (one element), got %v", y.name, y.value)
	}
	// Nodes that depend on some x, restricted to y's ancestors.
	ancestor := map[*Node]bool{y: true}
	for i := y.id; i >= 0; i-- {
		n := g.nodes[i]
		if ancestor[n] {
			for _, x := range n.inputs {
				ancestor[x] = true
			}
		}
	}
	dependsOnX := map[*Node]bool{}
	for _, x := range xs {
		if x == nil || x.g != g {
			return nil, fmt.Errorf("graph: Gradients: an x is nil or from another graph")
		}
		dependsOnX[x] = true
	}
	for _, n := range g.nodes[:y.id+1] {
		for _, x := range n.inputs {
			if dependsOnX[x] {
				dependsOnX[n] = true
			}
		}
	}
	contrib := map[*Node][]*Node{}
	contrib[y] = []*Node{g.Apply(&fillOp{value: 1}, y)}
	grads := map[*Node]*Node{}
	for i := y.id; i >= 0; i-- {
		n := g.nodes[i]
		cs := contrib[n]
		if len(cs) == 0 || !ancestor[n] || !dependsOnX[n] {
			continue
		}
		dy := sumGrads(cs)
		grads[n] = dy
		if isLeaf(n.op) {
			continue
		}
		d, ok := n.op.(Differentiable)
		if !ok {
			return nil, fmt.Errorf("graph: Gradients: %s (%s) is on the path from x to y: %w", n.name, n.op.Type(), ErrNoGradient)
		}
		gs := d.Grad(n, dy)
		if len(gs) != len(n.inputs) {
			return nil, fmt.Errorf("graph: Gradients: %s gradient returned %d values for %d inputs", n.op.Type(), len(gs), len(n.inputs))
		}
		for k, gx := range gs {
			x := n.inputs[k]
			if gx == nil || !dependsOnX[x] {
				continue
			}
			if gx.err != nil {
				return nil, fmt.Errorf("graph: Gradients: building the gradient of %s input %d: %w", n.name, k, gx.err)
			}
			contrib[x] = append(contrib[x], gx)
		}
	}
	if g.err != nil {
		return nil, fmt.Errorf("graph: Gradients: %w", g.err)
	}
	out := make([]*Node, len(xs))
	for i, x := range xs {
		out[i] = grads[x]
	}
	return out, nil
}

// sumGrads adds gradient contributions. Several sparse contributions stay sparse
// (their rows are concatenated); a mix with dense ones is made dense.
func sumGrads(cs []*Node) *Node {
	if len(cs) == 1 {
		return cs[0]
	}
	allSparse := true
	for _, c := range cs {
		allSparse = allSparse && IsSparse(c)
	}
	if allSparse {
		idx := make([]*Node, len(cs))
		val := make([]*Node, len(cs))
		for i, c := range cs {
			idx[i], val[i] = c.inputs[0], c.inputs[1]
		}
		sp := cs[0].op.(*indexedSlicesOp)
		return IndexedSlices(Concat(0, idx...), Concat(0, val...), sp.dense)
	}
	dense := make([]*Node, len(cs))
	for i, c := range cs {
		dense[i] = Densify(c)
	}
	return AddN(dense...)
}
