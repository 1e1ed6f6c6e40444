package graph

import (
	"fmt"
	"math"
	"unsafe"
)

// Device kernels of the NCE ops (ops_nce.go, kernels/nce.cu). The forward pass
// is one fused kernel (block per example: the dot products of the true and
// sampled logits, the softplus or softmax and the example's loss) and a
// one-block mean; the gradient is one kernel. NCELoss and NCELossGradPart are
// views.

func (o *logUniformSamplerOp) CompileDevice(c *DeviceCtx, _ []DeviceTensor, out DeviceTensor) (Kernel, error) {
	logRange := float32(math.Log(float64(o.rangeMax) + 1))
	if o.unique {
		// One warp draws 32 ids at a time and drops repeats through a hash set
		// of at least twice the ids, in shared memory up to 32 KiB.
		tsize := 64
		for tsize < 2*o.num {
			tsize *= 2
		}
		shared, table := 4*tsize, DevicePtr(0)
		if shared > 32<<10 {
			s, err := c.Scratch(4 * tsize)
			if err != nil {
				return nil, fmt.Errorf("unique sampler's hash set: %w", err)
			}
			shared, table = 0, s.Ptr
		}
		return c.Launch("tl_nce_sample_unique", Dim3{X: 1}, Dim3{X: 32}, shared, out.Ptr, o.num, o.rangeMax, logRange, c.Seed, c.Counter(), table, tsize)
	}
	return c.Launch1D("tl_nce_sample", o.num, out.Ptr, o.num, o.rangeMax, logRange, c.Seed, c.Counter())
}

func (o nceFwdOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	w, bias, x, lab, smp := in[0], in[1], in[2], in[3], in[4]
	v, dim := w.Shape[0], w.Shape[1]
	bs, s := x.Shape[0], smp.Shape[0]
	// Scratch: each example's loss (B floats), then the bad ids by position
	// (B+S ints) for the error message.
	scr, err := c.Scratch(4 * (bs + bs + s))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.name(), err)
	}
	rowLoss, vals := scr.Ptr, lstmOff(scr.Ptr, bs)
	dev, name := c.Dev, o.name()
	var tries DevicePtr // unique sampling: the sampler's number of draws
	if len(in) == 6 {
		tries = in[5].Ptr
	}
	slot := c.ErrorSlot(func(code int32) error {
		if code == -1 { // tries below 1 (the kernel writes -1 only then)
			var t int32
			if err := dev.CopyFromDevice(unsafe.Pointer(&t), tries, 4); err != nil {
				return fmt.Errorf("%s: tries below 1 (reading it back: %w)", name, err)
			}
			return fmt.Errorf("%s: tries = %d, want at least 1 (the sampler's draws)", name, t)
		}
		pos := math.MaxInt32 - int(code)
		if pos < 0 || pos >= bs+s {
			return fmt.Errorf("%s: bad id (device code %d)", name, code)
		}
		var id int32
		if err := dev.CopyFromDevice(unsafe.Pointer(&id), lstmOff(vals, pos), 4); err != nil {
			return fmt.Errorf("%s: an id is outside [0, %d) (reading it back: %w)", name, v, err)
		}
		arg := "labels"
		if pos >= bs {
			arg, pos = "sampled", pos-bs
		}
		return fmt.Errorf("%s: %s id %d at position %d is outside [0, %d)", name, arg, id, pos, v)
	})
	if bs == 0 {
		return c.Fill(out.Ptr, 0, out.Size()), nil
	}
	logS := float32(math.Log(float64(s)))
	logLogRange := float32(math.Log(math.Log(float64(v) + 1)))
	fwd, err := c.Launch("tl_nce_fwd", Dim3{X: uint32(bs)}, Dim3{X: 256}, 0,
		out.Ptr, w.Ptr, bias.Ptr, x.Ptr, lab.Ptr, smp.Ptr, rowLoss, slot, vals, v, dim, bs, s, logS, logLogRange, o.softmax, tries)
	if err != nil {
		return nil, err
	}
	mean, err := c.Launch("tl_nce_mean", Dim3{X: 1}, Dim3{X: 256}, 0, out.Ptr, rowLoss, bs)
	if err != nil {
		return nil, err
	}
	return Seq(fwd, mean), nil
}

func (nceGradOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	dy, pk, w, x, lab, smp := in[0], in[1], in[2], in[3], in[4], in[5]
	v, dim := w.Shape[0], w.Shape[1]
	bs, s := x.Shape[0], smp.Shape[0]
	if bs+s == 0 || out.Size() == 0 {
		return nil, nil
	}
	return c.Launch("tl_nce_grad", Dim3{X: uint32(bs + s)}, Dim3{X: 128}, 0,
		out.Ptr, dy.Ptr, pk.Ptr, w.Ptr, x.Ptr, lab.Ptr, smp.Ptr, v, dim, bs, s)
}
