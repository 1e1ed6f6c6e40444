package layers

import (
	"fmt"
	"math"

	"github.com/tlgo/tl/graph"
)

// Device kernels of the layers' own ops (kernels/layers.cu).

func (o *noiseOp) CompileDevice(c *graph.DeviceCtx, _ []graph.DeviceTensor, out graph.DeviceTensor) (graph.Kernel, error) {
	n := out.Size()
	if n == 0 {
		return nil, nil
	}
	if !c.Training {
		return c.Fill(out.Ptr, 0, n), nil
	}
	return c.Launch1D("tl_layers_noise", n, out.Ptr, int64(n), o.stddev, c.Seed, c.Counter())
}

func (o *zerosOp) CompileDevice(c *graph.DeviceCtx, _ []graph.DeviceTensor, out graph.DeviceTensor) (graph.Kernel, error) {
	if out.Size() == 0 {
		return nil, nil
	}
	return c.Fill(out.Ptr, 0, out.Size()), nil
}

func (o *bilinearOp) CompileDevice(c *graph.DeviceCtx, in []graph.DeviceTensor, out graph.DeviceTensor) (graph.Kernel, error) {
	s := in[0].Shape
	n, h, w, ch := s[0], s[1], s[2], s[3]
	if out.Size() == 0 {
		return nil, nil
	}
	if err := fits32(o.Type(), in[0].Size(), out.Size()); err != nil {
		return nil, err
	}
	return c.Launch1D("tl_layers_resize", out.Size(), out.Ptr, in[0].Ptr, n, h, w, ch, o.oh, o.ow)
}

func (o *bilinearGradOp) CompileDevice(c *graph.DeviceCtx, in []graph.DeviceTensor, out graph.DeviceTensor) (graph.Kernel, error) {
	s := out.Shape
	n, h, w, ch := s[0], s[1], s[2], s[3]
	if out.Size() == 0 {
		return nil, nil
	}
	if err := fits32(o.Type(), in[0].Size(), out.Size()); err != nil {
		return nil, err
	}
	return c.Launch1D("tl_layers_resize_grad", out.Size(), out.Ptr, in[0].Ptr, n, h, w, ch, o.oh, o.ow)
}

func (o *seqMaskOp) CompileDevice(c *graph.DeviceCtx, in []graph.DeviceTensor, out graph.DeviceTensor) (graph.Kernel, error) {
	if out.Size() == 0 {
		return nil, nil
	}
	if err := fits32(o.Type(), out.Size()); err != nil {
		return nil, err
	}
	return c.Launch1D("tl_layers_seqmask", out.Size(), out.Ptr, in[0].Ptr, in[0].Shape[0], o.steps)
}

// fits32 checks that tensors of sizes ns index in 32 bits, as the kernels do.
func fits32(op string, ns ...int) error {
	for _, n := range ns {
		if n > math.MaxInt32 {
			return fmt.Errorf("layers: %s: %d elements, more than the device kernels index (2^31-1)", op, n)
		}
	}
	return nil
}
