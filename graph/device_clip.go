package graph

import (
	"fmt"
	"unsafe"
)

// Device kernels of ops_clip.go; the CUDA C is in kernels/reduce_clip.cu and
// kernels/elementwise.cu (ScaleBy).

// Reduction modes of tl_rc_partial and tl_rc_finish (TL_RC_* in the .cu file).
const (
	devRCSum, devRCSumSq, devRCDot   = 0, 1, 2
	devRCPlain, devRCSqrt, devRCHalf = 0, 1, 2
	// devRCMaxBlocks bounds the partial sums per input; devRCPerThread is the
	// fewest elements a thread sums before another block is worth it.
	devRCMaxBlocks = 1024
	devRCPerThread = 8
)

// devReduce prepares out[0] = finish(Σ over inputs of the kind's sum): each input
// (with b[i] for Dot) adds its blocks' partial sums to a scratch vector, then
// one block adds them up.
func devReduce(c *DeviceCtx, kind, finish int, a, b []DeviceTensor, out DeviceTensor) (Kernel, error) {
	blocks := make([]int, len(a))
	np := 0
	for i, t := range a {
		blocks[i] = min(max(ceilDiv(t.Size(), BlockSize*devRCPerThread), 1), devRCMaxBlocks)
		np += blocks[i]
	}
	sc, err := c.Scratch(4 * np)
	if err != nil {
		return nil, err
	}
	var ks []Kernel
	off := 0
	for i, t := range a {
		bp := t.Ptr
		if b != nil {
			bp = b[i].Ptr
		}
		k, err := c.Launch("tl_rc_partial", Dim3{X: uint32(blocks[i])}, Dim3{X: BlockSize}, 32*4,
			kind, t.Ptr, bp, t.Size(), sc.Ptr, off)
		if err != nil {
			return nil, err
		}
		ks = append(ks, k)
		off += blocks[i]
	}
	k, err := c.Launch("tl_rc_finish", Dim3{X: 1}, Dim3{X: BlockSize}, 32*4, sc.Ptr, np, out.Ptr, finish)
	if err != nil {
		return nil, err
	}
	return Seq(append(ks, k)...), nil
}

func (o *globalNormOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	finish := devRCSqrt
	if o.halfSquare {
		finish = devRCHalf
	}
	if len(in) == 1 {
		return devReduce(c, devRCSumSq, finish, in, nil, out)
	}
	// Many tensors (a model's gradients): one launch for all the partial sums,
	// through a table of (address, size, first block) uploaded here.
	table := make([]uint64, 0, 3*len(in))
	np := 0
	for _, t := range in {
		table = append(table, uint64(t.Ptr), uint64(t.Size()), uint64(np))
		np += min(max(ceilDiv(t.Size(), BlockSize*devRCPerThread), 1), devRCMaxBlocks)
	}
	tab, err := c.Scratch(8 * len(table))
	if err != nil {
		return nil, err
	}
	if err := c.Dev.CopyToDevice(tab.Ptr, unsafe.Pointer(&table[0]), 8*len(table)); err != nil {
		return nil, fmt.Errorf("%s: uploading the table of %d tensors: %w", o.Type(), len(in), err)
	}
	partial, err := c.Scratch(4 * np)
	if err != nil {
		return nil, err
	}
	sums, err := c.Launch("tl_rc_sumsq_multi", Dim3{X: uint32(min(np, 65535*4))}, Dim3{X: BlockSize}, 32*4,
		tab.Ptr, len(in), np, partial.Ptr)
	if err != nil {
		return nil, err
	}
	fin, err := c.Launch("tl_rc_finish", Dim3{X: 1}, Dim3{X: BlockSize}, 32*4, partial.Ptr, np, out.Ptr, finish)
	if err != nil {
		return nil, err
	}
	return Seq(sums, fin), nil
}

func (*globalDotOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	return devReduce(c, devRCDot, devRCPlain, in[:1], in[1:2], out)
}

func (normGradFactorOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	return c.Launch("tl_rc_norm_grad_factor", Dim3{X: 1}, Dim3{X: 32}, 0, in[0].Ptr, in[1].Ptr, out.Ptr)
}

func (scaleByOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	n := out.Size()
	if n == 0 {
		return nil, nil
	}
	return c.Launch1D("tl_ew_scale_by", n, in[0].Ptr, in[1].Ptr, out.Ptr, n)
}

func (o *clipScaleOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	n := out.Size()
	if n == 0 {
		return nil, nil
	}
	return c.Launch1D("tl_rc_clip_scale", n, in[0].Ptr, in[1].Ptr, out.Ptr, n, o.clip)
}

func (o *clipFactorOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	return c.Launch("tl_rc_clip_factor", Dim3{X: 1}, Dim3{X: 32}, 0, in[0].Ptr, out.Ptr, o.clip, o.deriv)
}
