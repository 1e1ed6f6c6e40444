package graph

import (
	"slices"

	"github.com/tlgo/tl/cpu/gemm"
	"github.com/tlgo/tl/tensor"
)

// Fusion of a dense layer's product and bias on the CPU. BiasAct(MatMul(a, w),
// b) writes the product, then reads and writes it again to add the bias: for
// a language model's softmax layer (400×10,000 logits a step) that second pass
// is a tenth of the step. When the product has no other reader, is not a
// target, and nothing runs between the two, the BiasAct's kernel runs the
// product itself with the bias inside it (gemm.SgemmBias: one more inner step,
// A's ones times the bias) and the MatMul runs no kernel.

// fusedProducts returns, for each BiasAct that computes its product, that
// MatMul node.
func fusedProducts(l *layout) map[*Node]*Node {
	readers := map[*Node]int{}
	for _, n := range l.order {
		for _, x := range n.inputs {
			readers[x]++
		}
	}
	fused := map[*Node]*Node{}
	var last *Node // the last node that runs a kernel
	for _, n := range l.order {
		if isLeaf(n.op) || l.root[n] != n {
			continue
		}
		if _, ok := n.op.(*biasActOp); ok {
			m := n.inputs[0]
			if _, ok := m.op.(*matMulOp); ok && m == last && readers[m] == 1 && !l.isTarget[m] &&
				l.vals[m].DType == tensor.Float32 && len(l.vals[m].Shape) == 2 {
				fused[n] = m
			}
		}
		last = n
	}
	return fused
}

// compileWithProduct is the BiasAct kernel that also computes its input, the
// product mm of a and w: out = act(op(a)·op(w) + bias).
func (o *biasActOp) compileWithProduct(c *KernelCtx, mm *matMulOp, a, w, bias, out *tensor.Tensor) Kernel {
	as, ws := a.Shape(), w.Shape()
	m, n := out.Shape()[0], out.Shape()[1]
	k := as[1]
	if mm.transA {
		k = as[0]
	}
	ad, wd, bd, d := a.Float32s(), w.Float32s(), bias.Float32s(), out.Float32s()
	ta, tb, lda, ldw := mm.transA, mm.transB, as[1], ws[1]
	act := o.actKernel(c, d, n)
	return KernelFunc(func() {
		gemm.SgemmBias(ta, tb, m, n, k, 1, ad, lda, wd, ldw, bd, d, n)
		if act != nil {
			act()
		}
	})
}

// Fusion of a convolution and the pooling after it on the CPU. A convolution
// part computes a chunk of images at a time; the pooling of those images then
// reads them from the core's cache instead of from memory, in the same pass.
// When nothing else reads the convolution's output (inference), it is not
// written at all: each chunk goes to a scratch block the size of the chunk.
// On the CIFAR-10 CNN the first pooling read 19 MB a batch after the
// convolution wrote them.

// fuse finds the CPU plan's fusions (fusedProducts, fusedConvPools,
// fusedConvGrads, linkArgPools) and makes the inputs of each fused producer live until the
// kernel that runs its work.
func (l *layout) fuse(step, lastUse map[*Node]int) {
	extend := func(x, at *Node) {
		r := l.root[x]
		lastUse[r] = max(lastUse[r], step[at])
	}
	l.products = fusedProducts(l)
	for b, m := range l.products {
		for _, x := range m.inputs {
			extend(x, b)
		}
	}
	l.pooled = fusedConvPools(l)
	for p, c := range l.pooled {
		for _, x := range c.inputs {
			extend(x, p)
		}
	}
	l.convGrads = fusedConvGrads(l)
	for host, ms := range l.convGrads {
		for _, m := range ms {
			for _, x := range m.inputs {
				extend(x, host)
			}
		}
	}
	l.argPools = linkArgPools(l)
	for host, p := range l.argPools {
		extend(p, host)
	}
}

// with returns the nodes whose work n's kernel runs besides its own, in
// order, or nil.
func (l *layout) with(n *Node) []*Node {
	switch {
	case l.products[n] != nil:
		return []*Node{l.products[n]}
	case l.pooled[n] != nil:
		return []*Node{l.pooled[n]}
	}
	return l.convGrads[n]
}

// fusedConvPools returns, for each 2-D pooling whose input is a convolution
// that runs the kernel just before it, that convolution.
func fusedConvPools(l *layout) map[*Node]*Node {
	fused := map[*Node]*Node{}
	var last *Node // the last node that runs a kernel
	for _, n := range l.order {
		if isLeaf(n.op) || l.root[n] != n || l.idle[n] {
			continue
		}
		if po, ok := n.op.(*poolOp); ok && po.spec.rank == 4 && len(n.inputs) == 1 && n.inputs[0] == last {
			if co, ok := last.op.(*convOp); ok && co.spec.rank == 4 && l.vals[last].DType == tensor.Float32 {
				g, err := co.spec.convGeom(l.vals[last.inputs[0]].Shape, l.vals[last.inputs[1]].Shape)
				if err == nil && !g.Pointwise() && g.N > 0 {
					fused[n] = last
				}
			}
		}
		last = n
	}
	return fused
}

// keepConv reports whether the output of the convolution c, fused into a
// pooling, is needed by anything but that pooling: a gradient, a target,
// another reader (of c or of a view of it).
func (l *layout) keepConv(c *Node) bool {
	for _, n := range l.order {
		if l.root[n] == c && l.isTarget[n] {
			return true
		}
		if l.pooled[n] == c || l.root[n] == c {
			continue // the pooling, or a view of c (its readers count)
		}
		if l.readsArgs(n, c) {
			continue // a pooling gradient that routes by the recorded argmax
		}
		for _, x := range n.inputs {
			if l.root[x] == c {
				return true
			}
		}
	}
	return false
}

// Fusion of a convolution's backward pass below a max pooling. The pooling's
// gradient (with the ReLU's mask) writes dz, the convolution's output
// gradient, which the filter gradient and the bias gradient then read: on
// the CIFAR-10 CNN's first layer, 19 MB written and read twice a batch. When
// the three run one after the other and nothing else reads dz, the last one's
// kernel runs them chunk by chunk of images (the filter gradient's chunks):
// dz of a chunk is computed into a scratch block, multiplied with the chunk's
// im2col columns and summed for the bias while in cache, and never written.

// fusedConvGrads returns, for each bias gradient (or filter gradient) that
// runs such a group, the group's nodes before it, in order.
func fusedConvGrads(l *layout) map[*Node][]*Node {
	var ks []*Node // the nodes that run a kernel, in order
	for _, n := range l.order {
		if !isLeaf(n.op) && l.root[n] == n && !l.idle[n] {
			ks = append(ks, n)
		}
	}
	readers := map[*Node][]*Node{} // by the root read, the nodes reading it
	for _, n := range l.order {
		if l.root[n] != n {
			continue // a view computes nothing
		}
		for _, x := range n.inputs {
			readers[l.root[x]] = append(readers[l.root[x]], n)
		}
	}
	targeted := map[*Node]bool{}
	for _, n := range l.order {
		if l.isTarget[n] {
			targeted[l.root[n]] = true
		}
	}
	fused := map[*Node][]*Node{}
	for i := 1; i < len(ks); i++ {
		g, f := ks[i-1], ks[i]
		fo, ok := f.op.(*convBackpropFilterOp)
		if !ok || f.inputs[1] != g || f.inputs[0] == g || targeted[g] {
			continue
		}
		po, ok := g.op.(*maxPoolGradOp)
		if !ok || l.vals[g].DType != tensor.Float32 {
			continue
		}
		group := []*Node{g, f}
		if i+1 < len(ks) {
			if _, ok := ks[i+1].op.(channelSumOp); ok && ks[i+1].inputs[0] == g {
				group = append(group, ks[i+1])
			}
		}
		inside := true
		for _, r := range readers[g] {
			inside = inside && slices.Contains(group, r)
		}
		if !inside {
			continue
		}
		cg, err := fo.spec.convGeom(l.vals[f.inputs[0]].Shape, l.vals[f].Shape)
		if err != nil || cg.Pointwise() || cg.N == 0 {
			continue
		}
		pg, err := (&poolOp{kind: maxPool, spec: po.spec}).geom(l.vals[g.inputs[0]].Shape)
		if err != nil || pg.N != cg.N || pg.ImageSize() != cg.OutImageSize() {
			continue
		}
		host := group[len(group)-1]
		fused[host] = group[:len(group)-1]
		i += len(group) - 1
	}
	return fused
}

// linkArgPools returns, for each kernel of fusedConvGrads whose pooling
// gradient is that of a max pooling fused into the convolution below it (the
// same window on the same convolution's output), that pooling. The pooling
// then records, in a buffer of the plan, the offset of each maximum it takes,
// and the gradient routes dy by them from the pooled output: the
// convolution's output is read by neither, and in training, when nothing
// else reads it, it is not written at all.
func linkArgPools(l *layout) map[*Node]*Node {
	byConv := map[*Node]*Node{}
	for p, c := range l.pooled {
		if p.op.(*poolOp).kind == maxPool {
			byConv[c] = p
		}
	}
	links := map[*Node]*Node{}
	for host, ms := range l.convGrads {
		g := ms[0]
		p := byConv[g.inputs[0]]
		if p != nil && p.op.(*poolOp).spec == g.op.(*maxPoolGradOp).spec {
			links[host] = p
		}
	}
	return links
}

// readsArgs reports whether n is the pooling gradient of a group linked to
// the pooling of c (see linkArgPools): it does not read c's output.
func (l *layout) readsArgs(n, c *Node) bool {
	for host, p := range l.argPools {
		if l.pooled[p] == c && l.convGrads[host][0] == n {
			return true
		}
	}
	return false
}
