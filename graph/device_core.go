package graph

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/tlgo/tl/tensor"
)

// Device kernels of the core ops (ops_core.go, broadcast.go, ops_matmul.go,
// ops_transpose.go); the CUDA C is in kernels/shape.cu and kernels/elementwise.cu.

// devMaxDims is the most merged dimensions a strided kernel takes (TL_EW_MAXD,
// TL_SHAPE_MAXD): any tensor of rank ≤ 6, and higher ranks whose broadcast or
// permutation merges to 6 runs of axes. Beyond, the kernels read index maps
// uploaded at compile time (devOffsets).
const devMaxDims = 6

// devMerge merges the axes of a strided iteration. size[i] is axis i's length
// (outermost first) and strides[j][i] operand j's stride along it. Axes of length
// 1 are dropped and an axis joins its inner neighbour when every operand steps
// through both as one run. The result is innermost first, at least one dimension.
func devMerge(size []int, strides [][]int) (dims []int, st [][]int) {
	st = make([][]int, len(strides))
	for i := len(size) - 1; i >= 0; i-- {
		if size[i] == 1 {
			continue
		}
		if m := len(dims) - 1; m >= 0 {
			join := true
			for j := range strides {
				if strides[j][i] != st[j][m]*dims[m] {
					join = false
					break
				}
			}
			if join {
				dims[m] *= size[i]
				continue
			}
		}
		dims = append(dims, size[i])
		for j := range strides {
			st[j] = append(st[j], strides[j][i])
		}
	}
	if len(dims) == 0 {
		dims = []int{1}
		for j := range st {
			st[j] = []int{0}
		}
	}
	return dims, st
}

// devBroadcastStrides returns, along each axis of out, the stride of a tensor of
// shape in broadcast to out (right-aligned; 0 where in has length 1 or no axis).
func devBroadcastStrides(out, in tensor.Shape) []int {
	st := make([]int, len(out))
	s := 1
	for i := len(out) - 1; i >= 0; i-- {
		j := len(in) - len(out) + i
		if j < 0 {
			continue
		}
		if in[j] != 1 {
			st[i] = s
		}
		s *= in[j]
	}
	return st
}

// devDimArgs packs merged dimensions for a strided kernel: the count, six
// lengths (1 beyond the count), then six strides per operand (0 beyond).
func devDimArgs(op string, dims []int, strides ...[]int) ([]any, error) {
	if len(dims) > devMaxDims {
		return nil, fmt.Errorf("%s: %d merged dimensions (%v), the device kernels take at most %d", op, len(dims), dims, devMaxDims)
	}
	args := []any{len(dims)}
	for k := range devMaxDims {
		d := 1
		if k < len(dims) {
			d = dims[k]
		}
		args = append(args, d)
	}
	for _, s := range strides {
		for k := range devMaxDims {
			v := 0
			if k < len(s) {
				v = s[k]
			}
			args = append(args, v)
		}
	}
	return args, nil
}

// devOffsets returns the offset of every element of a strided iteration over
// merged dims (innermost first): the index map the kernels take beyond
// devMaxDims dimensions.
func devOffsets(dims, stride []int) []int32 {
	n := 1
	for _, d := range dims {
		n *= d
	}
	m := make([]int32, n)
	idx := make([]int, len(dims))
	off := 0
	for i := range m {
		m[i] = int32(off)
		for k := range dims {
			idx[k]++
			off += stride[k]
			if idx[k] < dims[k] {
				break
			}
			off -= stride[k] * dims[k]
			idx[k] = 0
		}
	}
	return m
}

// devUpload copies host int32s to scratch memory of the plan, once, here.
func devUpload(c *DeviceCtx, what string, m []int32) (DevicePtr, error) {
	sc, err := c.Scratch(4 * len(m))
	if err != nil {
		return 0, err
	}
	if len(m) > 0 {
		if err := c.Dev.CopyToDevice(sc.Ptr, unsafe.Pointer(&m[0]), 4*len(m)); err != nil {
			return 0, fmt.Errorf("uploading the index map of %s (%d elements): %w", what, len(m), err)
		}
	}
	return sc.Ptr, nil
}

// devStrided prepares out[i] = x at i's offset given the out-axis lengths and x's
// stride along each (a broadcast or a permutation); 32-bit words, any dtype.
func devStrided(c *DeviceCtx, op string, x, out DeviceTensor, size, stride []int) (Kernel, error) {
	dims, st := devMerge(size, [][]int{stride})
	n := out.Size()
	if len(dims) == 1 && st[0][0] == 1 {
		return c.Copy(out.Ptr, x.Ptr, n), nil
	}
	if len(dims) > devMaxDims {
		m, err := devUpload(c, op, devOffsets(dims, st[0]))
		if err != nil {
			return nil, err
		}
		return c.Launch1D("tl_ew_gather_map", n, x.Ptr, out.Ptr, m, n)
	}
	da, err := devDimArgs(op, dims, st[0])
	if err != nil {
		return nil, err
	}
	return c.Launch1D("tl_ew_strided", n, append([]any{x.Ptr, out.Ptr, n}, da...)...)
}

// devCopyRows prepares copying rows·w words: row r from src at r·srcStride+srcOff
// to dst at r·dstStride+dstOff (one device copy when the rows are contiguous).
func devCopyRows(c *DeviceCtx, dst, src DevicePtr, rows, w, srcStride, srcOff, dstStride, dstOff int) (Kernel, error) {
	n := rows * w
	if n == 0 {
		return nil, nil
	}
	if rows == 1 || (srcStride == w && dstStride == w) {
		return c.Copy(dst+DevicePtr(4*dstOff), src+DevicePtr(4*srcOff), n), nil
	}
	return c.Launch1D("tl_shape_copy_rows", n, src, dst, n, w, srcStride, srcOff, dstStride, dstOff)
}

func (o *fillOp) CompileDevice(c *DeviceCtx, _ []DeviceTensor, out DeviceTensor) (Kernel, error) {
	if out.Size() == 0 {
		return nil, nil
	}
	return c.Fill(out.Ptr, math.Float32bits(o.value), out.Size()), nil
}

// devAddNMax is how many inputs one tl_ew_addn launch sums.
const devAddNMax = 8

func (addNOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	n := out.Size()
	if n == 0 {
		return nil, nil
	}
	if len(in) == 1 {
		if in[0].Ptr == out.Ptr {
			return nil, nil
		}
		return c.Copy(out.Ptr, in[0].Ptr, n), nil
	}
	// The first launch sums up to 8 inputs into out; each next one adds up to 7
	// more to out (out may be input 0: every element is read before it is written).
	var ks []Kernel
	rest := in
	for len(rest) > 0 {
		var group []DeviceTensor
		take := devAddNMax
		if ks != nil {
			group, take = []DeviceTensor{out}, devAddNMax-1
		}
		take = min(take, len(rest))
		group, rest = append(group, rest[:take]...), rest[take:]
		args := []any{out.Ptr, n, len(group)}
		for i := range devAddNMax {
			p := group[0].Ptr // unused slots
			if i < len(group) {
				p = group[i].Ptr
			}
			args = append(args, p)
		}
		k, err := c.Launch1D("tl_ew_addn", n, args...)
		if err != nil {
			return nil, err
		}
		ks = append(ks, k)
	}
	return Seq(ks...), nil
}

func (o *unindexOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	n, m := out.Size(), in[0].Size()
	if n == 0 {
		return nil, nil
	}
	// One row of n: src at [i·m, i·m+m), zeros elsewhere.
	return c.Launch1D("tl_shape_pad_rows", n, in[0].Ptr, out.Ptr, n, n, o.i*m, m)
}

func (o *densifyOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	n := out.Size()
	if n == 0 {
		return nil, nil
	}
	rows := o.dense[0]
	width := n / max(rows, 1)
	zero := c.Fill(out.Ptr, 0, n)
	m := in[0].Size() * width
	if m == 0 {
		return zero, nil
	}
	add, err := c.Launch1D("tl_shape_densify", m, in[0].Ptr, in[1].Ptr, out.Ptr, m, width, rows)
	if err != nil {
		return nil, err
	}
	return Seq(zero, add), nil
}

func (o *concatOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	outer, inner := aroundAxis(out.Shape, o.axis)
	total := out.Shape[o.axis] * inner
	var ks []Kernel
	off := 0
	for _, t := range in {
		w := t.Shape[o.axis] * inner
		k, err := devCopyRows(c, out.Ptr, t.Ptr, outer, w, w, 0, total, off)
		if err != nil {
			return nil, err
		}
		ks = append(ks, k)
		off += w
	}
	return Seq(ks...), nil
}

func (o *concatGradOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	s := in[0].Shape
	outer, inner := aroundAxis(s, o.axis)
	start := 0
	for _, t := range in[1 : 1+o.part] {
		start += t.Shape[o.axis] * inner
	}
	w := out.Shape[o.axis] * inner
	return devCopyRows(c, out.Ptr, in[0].Ptr, outer, w, s[o.axis]*inner, start, w, 0)
}

func (o *sliceOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	s := in[0].Shape
	outer, inner := aroundAxis(s, o.axis)
	w := (o.hi - o.lo) * inner
	return devCopyRows(c, out.Ptr, in[0].Ptr, outer, w, s[o.axis]*inner, o.lo*inner, w, 0)
}

func (o *padSliceOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	n := out.Size()
	if n == 0 {
		return nil, nil
	}
	_, inner := aroundAxis(out.Shape, o.axis)
	total, w := out.Shape[o.axis]*inner, in[0].Shape[o.axis]*inner
	return c.Launch1D("tl_shape_pad_rows", n, in[0].Ptr, out.Ptr, n, total, o.lo*inner, w)
}

func (broadcastLikeOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	if out.Size() == 0 {
		return nil, nil
	}
	return devStrided(c, "BroadcastLike", in[0], out, out.Shape, devBroadcastStrides(out.Shape, in[0].Shape))
}

// SumTo reduces in two passes at most: partial sums over chunks of the reduced
// elements (so that a few outputs still spread over the whole device), then one
// thread per output adds its chunks.
const (
	devSumRowChunk  = 4096    // elements per block, at least, when the innermost axis is reduced
	devSumRowBlocks = 2048    // blocks wanted
	devSumColChunk  = 32      // elements per thread, at least, when the innermost axis is kept
	devSumColThread = 1 << 16 // threads wanted
)

func (sumToOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	src := in[0]
	K, n := out.Size(), src.Size()
	if K == 0 {
		return nil, nil
	}
	if K == n {
		if src.Ptr == out.Ptr {
			return nil, nil
		}
		return c.Copy(out.Ptr, src.Ptr, n), nil
	}
	// Split src's axes into kept ones (out has them) and reduced ones.
	ds, ls := src.Shape, out.Shape
	stride := make([]int, len(ds))
	s := 1
	for i := len(ds) - 1; i >= 0; i-- {
		stride[i] = s
		s *= ds[i]
	}
	var ksize, kstr, rsize, rstr []int
	innerReduced, seenInner := false, false
	for i := len(ds) - 1; i >= 0; i-- {
		j := len(ls) - len(ds) + i
		reduced := ds[i] != 1 && (j < 0 || ls[j] == 1)
		if ds[i] != 1 && !seenInner {
			seenInner, innerReduced = true, reduced
		}
		if reduced {
			rsize, rstr = append([]int{ds[i]}, rsize...), append([]int{stride[i]}, rstr...)
		} else {
			ksize, kstr = append([]int{ds[i]}, ksize...), append([]int{stride[i]}, kstr...)
		}
	}
	kd, kst := devMerge(ksize, [][]int{kstr})
	rd, rst := devMerge(rsize, [][]int{rstr})
	if len(kd) > devMaxDims || len(rd) > devMaxDims {
		// Each element of src adds itself to its output through an index map.
		dims, st := devMerge(ds, [][]int{devBroadcastStrides(ds, ls)})
		m, err := devUpload(c, "SumTo", devOffsets(dims, st[0]))
		if err != nil {
			return nil, err
		}
		add, err := c.Launch1D("tl_shape_sum_map", n, src.Ptr, out.Ptr, m, n)
		if err != nil {
			return nil, err
		}
		return Seq(c.Fill(out.Ptr, 0, K), add), nil
	}
	R := n / K
	ka, err := devDimArgs("SumTo", kd, kst[0])
	if err != nil {
		return nil, err
	}
	ra, err := devDimArgs("SumTo", rd, rst[0])
	if err != nil {
		return nil, err
	}
	var nchunks int
	if innerReduced {
		nchunks = max(1, min(ceilDiv(R, devSumRowChunk), ceilDiv(devSumRowBlocks, K)))
	} else {
		nchunks = max(1, min(ceilDiv(R, devSumColChunk), ceilDiv(devSumColThread, K)))
	}
	chunk := ceilDiv(R, nchunks)
	dst := out.Ptr
	if nchunks > 1 {
		sc, err := c.Scratch(4 * K * nchunks)
		if err != nil {
			return nil, err
		}
		dst = sc.Ptr
	}
	args := append([]any{src.Ptr, dst, K, R, nchunks, chunk}, ka...)
	args = append(args, ra...)
	var first Kernel
	if innerReduced {
		blocks := min(K*nchunks, 65535*4)
		first, err = c.Launch("tl_shape_sum_rows", Dim3{X: uint32(blocks)}, Dim3{X: BlockSize}, 32*4, args...)
	} else {
		first, err = c.Launch1D("tl_shape_sum_cols", K*nchunks, args...)
	}
	if err != nil || nchunks == 1 {
		return first, err
	}
	kstride, cstride := nchunks, 1
	if !innerReduced {
		kstride, cstride = 1, K
	}
	second, err := c.Launch1D("tl_shape_sum_chunks", K, dst, out.Ptr, K, nchunks, kstride, cstride)
	if err != nil {
		return nil, err
	}
	return Seq(first, second), nil
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func (o *matMulOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	as, bs := in[0].Shape, in[1].Shape
	m, n := out.Shape[0], out.Shape[1]
	if m == 0 || n == 0 {
		return nil, nil
	}
	k := as[1]
	if o.transA {
		k = as[0]
	}
	if k == 0 {
		return c.Fill(out.Ptr, 0, m*n), nil
	}
	return c.Gemm(GemmArgs{
		TransA: o.transA, TransB: o.transB,
		M: m, N: n, K: k,
		Alpha: 1, Beta: 0,
		A: in[0].Ptr, B: in[1].Ptr, C: out.Ptr,
		LDA: as[1], LDB: bs[1], LDC: n,
		Batch: 1,
	}), nil
}

func (o *transposeOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	s := in[0].Shape
	n := out.Size()
	if n == 0 {
		return nil, nil
	}
	r := len(s)
	stride := make([]int, r)
	acc := 1
	for i := r - 1; i >= 0; i-- {
		stride[i] = acc
		acc *= s[i]
	}
	size := make([]int, r)
	src := make([]int, r)
	for i, p := range o.perm {
		size[i], src[i] = s[p], stride[p]
	}
	dims, st := devMerge(size, [][]int{src})
	// A (batch of) 2-D transpose(s): out (batch, rows, cols) from x (batch,
	// cols, rows), through shared-memory tiles so that both sides coalesce.
	if len(dims) == 2 && st[0][0] == dims[1] && st[0][1] == 1 ||
		len(dims) == 3 && st[0][0] == dims[1] && st[0][1] == 1 && st[0][2] == dims[0]*dims[1] {
		batch, rows, cols := 1, dims[1], dims[0]
		if len(dims) == 3 {
			batch = dims[2]
		}
		tiles := batch * ceilDiv(rows, 32) * ceilDiv(cols, 32)
		blocks := min(tiles, 65535*4)
		return c.Launch("tl_shape_transpose2d", Dim3{X: uint32(blocks)}, Dim3{X: BlockSize}, 32*33*4,
			in[0].Ptr, out.Ptr, batch, rows, cols)
	}
	return devStrided(c, "Transpose", in[0], out, size, src)
}
