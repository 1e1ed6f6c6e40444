package graph

import (
	"fmt"
	"math"

	"github.com/tlgo/tl/tensor"
)

// Device kernels of ops_nn.go and ops_loss.go (kernels/nn.cu), and the launch
// helpers the conv and norm ops share.

// noopKernel is the kernel of an op with nothing to compute (an empty output).
func noopKernel() Kernel { return KernelFunc(func() {}) }

// blocksFor is the number of blocks of per items each, capped: the kernels
// loop over the rest.
func blocksFor(n, per, limit int) uint32 {
	return uint32(min(max((n+per-1)/per, 1), limit))
}

// rowWarpMax is the widest row a single warp handles in the row kernels; wider
// rows get a block of BlockSize threads.
const rowWarpMax = 512

// launchRows launches a row kernel of kernels/nn.cu or norm.cu over rows of
// width w: a warp per row for narrow rows, a block per row otherwise. The
// kernel's last parameter is the warp flag, appended here.
func launchRows(c *DeviceCtx, kernel string, rows, w int, args ...any) (Kernel, error) {
	warp := w <= rowWarpMax
	per := 1
	if warp {
		per = BlockSize / 32
	}
	grid := Dim3{X: blocksFor(rows, per, 65535*16)}
	return c.Launch(kernel, grid, Dim3{X: BlockSize}, 0, append(args, warp)...)
}

// colReduce prepares tl_nn_colpart and tl_nn_colfin: per-column statistics of a
// rows×C matrix in two deterministic passes (parts of rows, then their sum).
// The partial results need parts·Q·C floats of scratch.
type colReduce struct {
	parts int
	grid  Dim3
}

func newColReduce(rows, C int) colReduce {
	parts := min(max((rows+63)/64, 1), 512)
	return colReduce{parts: parts, grid: Dim3{X: uint32(parts), Y: uint32((C + 31) / 32)}}
}

// part launches tl_nn_colpart in mode (see kernels/nn.cu).
func (r colReduce) part(c *DeviceCtx, x, dy, k, part DevicePtr, rows, C, mode int) (Kernel, error) {
	return c.Launch("tl_nn_colpart", r.grid, Dim3{X: BlockSize}, 0, x, dy, k, part, int64(rows), C, mode)
}

// colSums reduces the columns of x (rows×C) into out (C): sums times scale
// (kind 0) or maxima (kind 1).
func colSums(c *DeviceCtx, x, out DevicePtr, rows, C, kind int, scale float32) (Kernel, error) {
	r := newColReduce(rows, C)
	scr, err := c.Scratch(4 * r.parts * C)
	if err != nil {
		return nil, err
	}
	k1, err := r.part(c, x, 0, 0, scr.Ptr, rows, C, kind)
	if err != nil {
		return nil, err
	}
	k2, err := c.Launch1D("tl_nn_colfin", C, scr.Ptr, out, r.parts, 1, C, kind, scale)
	if err != nil {
		return nil, err
	}
	return Seq(k1, k2), nil
}

// CompileDevice: act(x + b) in one elementwise pass; out may be x.
func (o *biasActOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	n, w := out.Size(), in[1].Size()
	if n == 0 {
		return noopKernel(), nil
	}
	return c.Launch1D("tl_nn_bias_act", n, in[0].Ptr, in[1].Ptr, out.Ptr, int64(n), w, int(o.act))
}

// CompileDevice: the activation's gradient from its output; out may be dy.
func (o *actGradOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	n := out.Size()
	if n == 0 {
		return noopKernel(), nil
	}
	return c.Launch1D("tl_nn_act_grad", n, in[0].Ptr, in[1].Ptr, out.Ptr, int64(n), int(o.act))
}

// axisRun is a run of adjacent axes that are all kept or all reduced, merged.
type axisRun struct {
	size   int
	stride int // in the input, in elements
	red    bool
}

// reduceRuns merges the axes of s into runs of kept and reduced axes,
// outermost first, dropping axes of size 1.
func reduceRuns(s tensor.Shape, axes []int) []axisRun {
	red := make([]bool, len(s))
	for _, a := range axes {
		red[a] = true
	}
	var runs []axisRun
	stride := 1
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == 1 {
			continue
		}
		if k := len(runs) - 1; k >= 0 && runs[k].red == red[i] {
			runs[k].size *= s[i]
		} else {
			runs = append(runs, axisRun{size: s[i], stride: stride, red: red[i]})
		}
		stride *= s[i]
	}
	for i, j := 0, len(runs)-1; i < j; i, j = i+1, j-1 {
		runs[i], runs[j] = runs[j], runs[i]
	}
	return runs
}

// pad3 returns up to three runs as sizes and strides, innermost last, padded
// at the front with size 1.
func pad3(runs []axisRun) (s [3]int, t [3]int64) {
	s = [3]int{1, 1, 1}
	off := 3 - len(runs)
	for i, r := range runs {
		s[off+i], t[off+i] = r.size, int64(r.stride)
	}
	return s, t
}

// CompileDevice reduces rows (the reduced axes innermost), columns (outermost),
// the whole tensor, or any other pattern with a thread per output.
func (o *reduceOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	x := in[0]
	nx, nd := x.Size(), out.Size()
	kind := 0
	if o.kind == redMax {
		kind = 1
	}
	scale := float32(1)
	if o.kind == redMean && nd > 0 {
		scale = float32(nd) / float32(nx)
	}
	if nd == 0 {
		return noopKernel(), nil
	}
	if nx == 0 { // as the CPU: sums are 0, maxima -∞, means 0·(1/0)
		v := float32(0)
		switch o.kind {
		case redMax:
			v = float32(math.Inf(-1))
		case redMean:
			v = float32(math.NaN())
		}
		return c.Fill(out.Ptr, math.Float32bits(v), nd), nil
	}
	runs := reduceRuns(x.Shape, o.axes)
	var kept, red []axisRun
	for _, r := range runs {
		if r.red {
			red = append(red, r)
		} else {
			kept = append(kept, r)
		}
	}
	switch {
	case len(red) == 0: // reduced axes of size 1: a copy
		return c.Copy(out.Ptr, x.Ptr, nd), nil
	case len(kept) == 0:
		blocks := int(blocksFor(nx, BlockSize*8, 1024))
		scr, err := c.Scratch(4 * blocks)
		if err != nil {
			return nil, err
		}
		k1, err := c.Launch("tl_nn_reduce_all", Dim3{X: uint32(blocks)}, Dim3{X: BlockSize}, 0, x.Ptr, scr.Ptr, int64(nx), kind)
		if err != nil {
			return nil, err
		}
		k2, err := launchRows(c, "tl_nn_reduce_rows", 1, blocks, scr.Ptr, out.Ptr, int64(1), blocks, kind, scale)
		if err != nil {
			return nil, err
		}
		return Seq(k1, k2), nil
	case len(runs) == 2 && !runs[0].red:
		return launchRows(c, "tl_nn_reduce_rows", runs[0].size, runs[1].size, x.Ptr, out.Ptr, int64(runs[0].size), runs[1].size, kind, scale)
	case len(runs) == 2:
		return colSums(c, x.Ptr, out.Ptr, runs[0].size, runs[1].size, kind, scale)
	}
	if len(kept) > 3 || len(red) > 3 {
		return nil, fmt.Errorf("%s over axes %v of %v: more than 3 runs of kept or reduced axes on the device", o.Type(), o.axes, x.Shape)
	}
	ks, kt := pad3(kept)
	rs, rt := pad3(red)
	return c.Launch1D("tl_nn_reduce_gen", nd, x.Ptr, out.Ptr, int64(nd), int64(nx/nd), kind, scale,
		ks[0], ks[1], ks[2], kt[0], kt[1], kt[2], rs[0], rs[1], rs[2], rt[0], rt[1], rt[2])
}

// bcastRuns returns, for the elements of shape from, the merged runs of axes
// (sizes and strides into to, 0 where to broadcasts), as broadcastIndex maps
// them, outermost first, at most 6 of them padded at the front.
func bcastRuns(from, to tensor.Shape) (s [6]int, t [6]int64, err error) {
	type run struct{ size, stride int }
	var runs []run
	st := 1
	r := len(from)
	for i := r - 1; i >= 0; i-- {
		j := len(to) - r + i
		stride := 0
		if j >= 0 && to[j] != 1 {
			stride = st
		}
		if j >= 0 {
			st *= to[j]
		}
		if from[i] == 1 {
			continue
		}
		if k := len(runs) - 1; k >= 0 && ((stride == 0 && runs[k].stride == 0) ||
			(stride != 0 && runs[k].stride != 0 && stride == runs[k].stride*runs[k].size)) {
			runs[k].size *= from[i]
			continue
		}
		runs = append(runs, run{size: from[i], stride: stride})
	}
	if len(runs) > 6 {
		return s, t, fmt.Errorf("broadcast of %v to %v: more than 6 runs of axes on the device", to, from)
	}
	for i := range s {
		s[i] = 1
	}
	for k, ru := range runs { // runs are innermost first
		s[5-k], t[5-k] = ru.size, int64(ru.stride)
	}
	return s, t, nil
}

func bcastGrad(c *DeviceCtx, dy, x, y, out DeviceTensor, kind int, scale float32) (Kernel, error) {
	n := out.Size()
	if n == 0 {
		return noopKernel(), nil
	}
	s, t, err := bcastRuns(out.Shape, dy.Shape)
	if err != nil {
		return nil, err
	}
	return c.Launch1D("tl_nn_bcast_grad", n, dy.Ptr, x.Ptr, y.Ptr, out.Ptr, int64(n), kind, scale,
		s[0], s[1], s[2], s[3], s[4], s[5], t[0], t[1], t[2], t[3], t[4], t[5])
}

// CompileDevice: dy broadcast to x's shape, times the count ratio.
func (meanGradOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	scale := float32(in[0].Size()) / float32(max(out.Size(), 1))
	return bcastGrad(c, in[0], DeviceTensor{}, DeviceTensor{}, out, 0, scale)
}

// CompileDevice: dy where x equals its maximum, else 0.
func (maxReduceGradOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	return bcastGrad(c, in[0], in[1], in[2], out, 1, 1)
}

func lastDim(s tensor.Shape) int { return s[len(s)-1] }

// CompileDevice: one row kernel; out may be x.
func (o *softmaxOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	n, w := out.Size(), lastDim(in[0].Shape)
	if n == 0 {
		return noopKernel(), nil
	}
	rows := n / w
	return launchRows(c, "tl_nn_softmax", rows, w, in[0].Ptr, out.Ptr, int64(rows), w, o.log)
}

// CompileDevice: one row kernel.
func (o *softmaxGradOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	n, w := out.Size(), lastDim(in[1].Shape)
	if n == 0 {
		return noopKernel(), nil
	}
	rows := n / w
	return launchRows(c, "tl_nn_softmax_grad", rows, w, in[0].Ptr, in[1].Ptr, out.Ptr, int64(rows), w, o.log)
}

// xentBlocks is the most blocks of the loss kernels; with one block the loss is
// written (deterministic), with more each block adds its share atomically.
const xentBlocks = 256

// xentOneBlock is the most elements a loss kernel reads with a single block: for
// small batches (the CIFAR-10 model's 128×10) one block beats a fill and atomics.
const xentOneBlock = 1 << 16

// CompileDevice: softmax, the loss of each row and their mean in one kernel
// (after a fill when several blocks add to the result). A label out of range
// fails the run, naming its row.
func (xentOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	rows, w := in[0].Shape[0], in[0].Shape[1]
	if rows == 0 {
		// The CPU divides a zero sum by max(rows, 1).
		return c.Fill(out.Ptr, 0, 1), nil
	}
	slot := c.ErrorSlot(func(code int32) error {
		return fmt.Errorf("SparseSoftmaxCrossEntropy: the label of row %d is outside [0, %d)", code-1, w)
	})
	per := 1
	if w <= rowWarpMax {
		per = BlockSize / 32
	}
	blocks := int(blocksFor(rows, per, xentBlocks))
	if rows*w <= xentOneBlock {
		blocks = 1
	}
	atomic := blocks > 1
	inv := float32(1 / float64(rows))
	k, err := c.Launch("tl_nn_xent", Dim3{X: uint32(blocks)}, Dim3{X: BlockSize}, 0,
		in[0].Ptr, in[1].Ptr, out.Ptr, slot, int64(rows), w, inv, atomic, w <= rowWarpMax)
	if err != nil {
		return nil, err
	}
	if atomic {
		return Seq(c.Fill(out.Ptr, 0, 1), k), nil
	}
	return k, nil
}

// CompileDevice: softmax minus the one-hot label, scaled, per row. Labels out of
// range are the forward op's to report; here they give no one-hot entry, as on
// the CPU.
func (xentGradOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	rows, w := in[1].Shape[0], in[1].Shape[1]
	if rows == 0 || w == 0 {
		return noopKernel(), nil
	}
	return launchRows(c, "tl_nn_xent_grad", rows, w, in[0].Ptr, in[1].Ptr, in[2].Ptr, out.Ptr, int64(rows), w, float32(rows))
}

// CompileDevice: the mean logistic loss in one kernel (after a fill when
// several blocks add to the result).
func (sigmoidXentOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	n := in[0].Size()
	if n == 0 {
		return c.Fill(out.Ptr, 0, 1), nil
	}
	blocks := int(blocksFor(n, BlockSize*4, xentBlocks))
	if n <= xentOneBlock {
		blocks = 1
	}
	atomic := blocks > 1
	inv := float32(1 / float64(n))
	k, err := c.Launch("tl_nn_sigmoid_xent", Dim3{X: uint32(blocks)}, Dim3{X: BlockSize}, 0,
		in[0].Ptr, in[1].Ptr, out.Ptr, int64(n), inv, atomic)
	if err != nil {
		return nil, err
	}
	if atomic {
		return Seq(c.Fill(out.Ptr, 0, 1), k), nil
	}
	return k, nil
}

// CompileDevice: dy divided by the number of elements of x.
func (countScaleOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	inv := 1 / float32(max(in[1].Size(), 1))
	return c.Launch("tl_nn_scalar_scale", Dim3{X: 1}, Dim3{X: 32}, 0, in[0].Ptr, out.Ptr, inv)
}

// CompileDevice: a thread per output element. An index out of range fails the
// run, naming its position (the CPU names its value too).
func (gatherOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	rows := in[0].Shape[0]
	n := out.Size()
	if n == 0 {
		return noopKernel(), nil
	}
	w := in[0].Size() / max(rows, 1)
	slot := c.ErrorSlot(func(code int32) error {
		return fmt.Errorf("Gather: the index at position %d is outside [0, %d)", code-1, rows)
	})
	return c.Launch1D("tl_nn_gather", n, in[0].Ptr, in[1].Ptr, out.Ptr, slot, int64(n), w, rows)
}

// CompileDevice: Group has no output and nothing to run.
func (groupOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	return nil, nil
}
