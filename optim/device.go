package optim

import (
	"fmt"
	"math"

	"github.com/tlgo/tl/graph"
)

// Device kernels of the updates (kernels/optim.cu). Dense updates are one
// elementwise launch. Sparse updates with a slot rule sum the slices of
// repeated rows first with atomicAdd (so the sum's rounding order may differ
// from the CPU's, which adds them in index order), then update each distinct row
// once; sparse SGD adds every slice straight into the variable with atomicAdd.

// Rule numbers of kernels/optim.cu.
const (
	ruleMomentum = 0
	ruleAdam     = 1
	ruleAdagrad  = 2
	ruleRMSProp  = 3
)

// deviceRule returns the kernel's number and constants for r.
func deviceRule(r rule) (id int, k [3]float32, err error) {
	switch r := r.(type) {
	case *momentumRule:
		nest := float32(0)
		if r.nesterov {
			nest = 1
		}
		return ruleMomentum, [3]float32{r.mu, nest}, nil
	case *adamRule:
		return ruleAdam, [3]float32{r.b1, r.b2, r.eps}, nil
	case *adagradRule:
		return ruleAdagrad, [3]float32{r.eps}, nil
	case *rmspropRule:
		return ruleRMSProp, [3]float32{r.rho, r.mu, r.eps}, nil
	}
	return 0, k, fmt.Errorf("optim: no device kernel for the %s rule (%T)", r.name(), r)
}

// deviceSlots returns the slots' addresses (0 when the rule has fewer).
func deviceSlots(ts []graph.DeviceTensor) (s0, s1 graph.DevicePtr) {
	if len(ts) > 0 {
		s0 = ts[0].Ptr
	}
	if len(ts) > 1 {
		s1 = ts[1].Ptr
	}
	return s0, s1
}

func (o *denseUpdateOp) CompileDevice(c *graph.DeviceCtx, in []graph.DeviceTensor, _ graph.DeviceTensor) (graph.Kernel, error) {
	id, k, err := deviceRule(o.r)
	if err != nil {
		return nil, err
	}
	w, g, lr, st := in[0], in[1], in[2], in[3]
	s0, s1 := deviceSlots(in[4:])
	n := w.Size()
	if n == 0 {
		return nil, nil
	}
	return c.Launch1D("tl_optim_dense", n, id, w.Ptr, g.Ptr, s0, s1, lr.Ptr, st.Ptr, o.hasStep, k[0], k[1], k[2], int64(n))
}

// sparseRows returns the variable's rows and row width (rowWidth's twin).
func sparseRows(v graph.DeviceTensor) (rows, width int) {
	if len(v.Shape) == 0 || v.Shape[0] == 0 {
		return 0, 0
	}
	return v.Shape[0], v.Size() / v.Shape[0]
}

func (o *sparseUpdateOp) CompileDevice(c *graph.DeviceCtx, in []graph.DeviceTensor, _ graph.DeviceTensor) (graph.Kernel, error) {
	id, k, err := deviceRule(o.r)
	if err != nil {
		return nil, err
	}
	w, idx, val, lr, st := in[0], in[1], in[2], in[3], in[4]
	s0, s1 := deviceSlots(in[5:])
	rows, width := sparseRows(w)
	n := idx.Size()
	if n*width == 0 {
		return nil, nil
	}
	// Scratch: the owner slice of each row (rows ints), then the summed slices
	// (n, width), one slot per slice (only owners' slots are used).
	scr, err := c.Scratch(4 * (rows + n*width))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Type(), err)
	}
	if err := fits32(o.Type(), n*width); err != nil {
		return nil, err
	}
	pos, sums := scr.Ptr, scr.Ptr+graph.DevicePtr(4*rows)
	first, err := c.Launch1D("tl_optim_first", n, pos, idx.Ptr, n, rows)
	if err != nil {
		return nil, err
	}
	sum, err := c.Launch1D("tl_optim_sum", n*width, sums, pos, idx.Ptr, val.Ptr, n, width, rows)
	if err != nil {
		return nil, err
	}
	apply, err := c.Launch1D("tl_optim_sparse", n*width, id, w.Ptr, idx.Ptr, sums, pos, s0, s1, lr.Ptr, st.Ptr,
		o.hasStep, k[0], k[1], k[2], n, width, rows)
	if err != nil {
		return nil, err
	}
	return graph.Seq(
		c.Fill(pos, math.MaxInt32, rows),
		c.Fill(sums, 0, n*width),
		first, sum, apply), nil
}

func (sgdOp) CompileDevice(c *graph.DeviceCtx, in []graph.DeviceTensor, _ graph.DeviceTensor) (graph.Kernel, error) {
	v, g, lr := in[0], in[1], in[2]
	n := v.Size()
	if n == 0 {
		return nil, nil
	}
	const ruleSGD = 4
	return c.Launch1D("tl_optim_dense", n, ruleSGD, v.Ptr, g.Ptr, graph.DevicePtr(0), graph.DevicePtr(0), lr.Ptr, lr.Ptr,
		false, float32(0), float32(0), float32(0), int64(n))
}

func (sgdSparseOp) CompileDevice(c *graph.DeviceCtx, in []graph.DeviceTensor, _ graph.DeviceTensor) (graph.Kernel, error) {
	v, idx, val, lr := in[0], in[1], in[2], in[3]
	rows, width := sparseRows(v)
	n := idx.Size()
	if n*width == 0 {
		return nil, nil
	}
	if err := fits32("SGDSparseUpdate", n*width); err != nil {
		return nil, err
	}
	return c.Launch1D("tl_optim_sgd_sparse", n*width, v.Ptr, idx.Ptr, val.Ptr, lr.Ptr, n, width, rows)
}

func (incrementOp) CompileDevice(c *graph.DeviceCtx, in []graph.DeviceTensor, _ graph.DeviceTensor) (graph.Kernel, error) {
	return c.Launch("tl_optim_increment", graph.Dim3{X: 1}, graph.Dim3{X: 32}, 0, in[0].Ptr)
}

// fits32 checks that a sparse gradient's n elements index in 32 bits, as the
// sparse kernels do.
func fits32(op string, n int) error {
	if n > math.MaxInt32 {
		return fmt.Errorf("optim: %s: a sparse gradient of %d elements, more than the device kernels index (2^31-1)", op, n)
	}
	return nil
}
