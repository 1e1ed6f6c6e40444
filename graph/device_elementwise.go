package graph

import (
	"github.com/tlgo/tl/tensor"
)

// Device kernels of the elementwise ops (ops_elementwise.go) and DropoutMask
// (ops_dropout.go); the CUDA C is in kernels/elementwise.cu. The kind numbers
// passed to the kernels are binKind and unKind (TL_EW_* in the .cu file).

func (o *binaryOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	a, b := in[0], in[1]
	n := out.Size()
	if n == 0 {
		return nil, nil
	}
	kind := int(o.kind)
	switch {
	case a.Size() == n && b.Size() == n:
		return c.Launch1D("tl_ew_binary", n, kind, a.Ptr, b.Ptr, out.Ptr, n)
	case a.Size() == n && suffix(out.Shape, b.Shape):
		// b repeats along the leading axes of a (bias-like).
		return c.Launch1D("tl_ew_binary_rows", n, kind, a.Ptr, b.Ptr, out.Ptr, n, b.Size(), false)
	case b.Size() == n && suffix(out.Shape, a.Shape):
		return c.Launch1D("tl_ew_binary_rows", n, kind, a.Ptr, b.Ptr, out.Ptr, n, a.Size(), true)
	}
	args, maps, err := devBinaryArgs(c, o.Type(), out.Shape, a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	if maps != nil {
		return c.Launch1D("tl_ew_binary_map", n, kind, a.Ptr, b.Ptr, out.Ptr, maps[0], maps[1], n)
	}
	return c.Launch1D("tl_ew_binary_bcast", n, append([]any{kind, a.Ptr, b.Ptr, out.Ptr, n}, args...)...)
}

// devBinaryArgs packs the merged dimensions of out and the strides of a and b
// broadcast to it; beyond devMaxDims dimensions it uploads their index maps
// instead.
func devBinaryArgs(c *DeviceCtx, op string, out, a, b tensor.Shape) (args []any, maps []DevicePtr, err error) {
	dims, st := devMerge(out, [][]int{devBroadcastStrides(out, a), devBroadcastStrides(out, b)})
	if len(dims) <= devMaxDims {
		args, err = devDimArgs(op, dims, st[0], st[1])
		return args, nil, err
	}
	for _, s := range st {
		m, err := devUpload(c, op, devOffsets(dims, s))
		if err != nil {
			return nil, nil, err
		}
		maps = append(maps, m)
	}
	return nil, maps, nil
}

func (maxGradOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	n := out.Size()
	if n == 0 {
		return nil, nil
	}
	args, maps, err := devBinaryArgs(c, "MaximumGrad", out.Shape, in[1].Shape, in[2].Shape)
	if err != nil {
		return nil, err
	}
	if maps != nil {
		return c.Launch1D("tl_ew_max_grad_map", n, in[0].Ptr, in[1].Ptr, in[2].Ptr, out.Ptr, maps[0], maps[1], n)
	}
	return c.Launch1D("tl_ew_max_grad", n, append([]any{in[0].Ptr, in[1].Ptr, in[2].Ptr, out.Ptr, n}, args...)...)
}

func (o *unaryOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	n := out.Size()
	if n == 0 {
		return nil, nil
	}
	return c.Launch1D("tl_ew_unary", n, int(o.kind), o.param, in[0].Ptr, out.Ptr, n)
}

func (o *unaryGradOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	n := out.Size()
	if n == 0 {
		return nil, nil
	}
	return c.Launch1D("tl_ew_unary_grad", n, int(o.kind), o.param, in[0].Ptr, in[1].Ptr, out.Ptr, n)
}

func (o *dropoutMaskOp) CompileDevice(c *DeviceCtx, _ []DeviceTensor, out DeviceTensor) (Kernel, error) {
	n := out.Size()
	if n == 0 {
		return nil, nil
	}
	if !c.Training || o.keep >= 1 {
		return c.Fill(out.Ptr, 0x3f800000, n), nil // 1.0f
	}
	// As on the CPU: keep when the top 24 bits of a draw are below keep·2²⁴.
	thresh := uint32(float64(o.keep) * (1 << 24))
	return c.Launch1D("tl_ew_dropout", (n+1)/2, out.Ptr, n, c.Seed, c.Counter(), thresh, 1/o.keep)
}
