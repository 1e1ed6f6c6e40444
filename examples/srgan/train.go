package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"

	"github.com/tlgo/tl/formats"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/mltasks/netstore"
	"github.com/tlgo/tl/modelio"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/events"
	"github.com/tlgo/tl/store/models"
	"github.com/tlgo/tl/tensor"
)

// options are the command's settings.
type options struct {
	Arch              arch
	PreEpochs, Epochs int
	Batch             int
	PreLR, LR, Adv    float64
	Train, Test       *formats.Images // high-resolution images, Arch.Size square, one channel
	EvalN             int             // test images measured
	Classifier        string          // examples/fashionmnist --save folder: the content loss's features
	OutDir, SaveDir   string
	Seed              uint64
	LogEvery          int
	Device            graph.Device
	DB                *store.DB
	Name              string
	Log               *slog.Logger
}

// quality is PSNR (dB) and SSIM over the measured test images.
type quality struct{ PSNR, SSIM float64 }

// result is what a run measured.
type result struct {
	PreSteps                    []float64 // pixel MSE per pre-training step
	Upscaled                    []float32 // the measured test images upscaled by the final generator, [0, 1]
	Steps                       []stepStats
	Bicubic, PixelOnly, SRGAN   quality
	Grid, Run                   string
	GenVersion, PixelVersion    int64
	GenParams, DisParams, Model int
}

// run pre-trains the generator on pixel MSE (SRResNet), measures it, then
// plays the game (content + adversarial loss) and measures again, against
// bicubic upscaling; it writes the grid (low-res, bicubic, pixel loss only,
// SRGAN, original) and records both generators and the discriminator.
func run(ctx context.Context, o options) (*result, error) {
	a := o.Arch
	if err := a.check(); err != nil {
		return nil, err
	}
	for _, im := range []*formats.Images{o.Train, o.Test} {
		if im == nil || im.H != a.Size || im.W != a.Size || im.C != 1 {
			return nil, fmt.Errorf("srgan: images must be %d×%d×1 (the generator's output for --scale %d)", a.Size, a.Size, a.Scale)
		}
	}
	if o.Batch <= 0 || o.Batch > o.Train.N || o.EvalN <= 0 {
		return nil, fmt.Errorf("srgan: batch %d and eval images %d: want a batch from 1 to %d and eval images > 0", o.Batch, o.EvalN, o.Train.N)
	}
	g := graph.New(o.Seed)
	eng := graph.NewEngine(g, o.Device)
	defer eng.Close()
	n, err := newSRGAN(ctx, g, a, o.Classifier, float32(o.PreLR), float32(o.LR), float32(o.Adv), eng.Runner)
	if err != nil {
		return nil, err
	}
	res := &result{GenParams: n.gen.ParamCount(), DisParams: n.dReal.ParamCount()}
	var w *events.Writer
	if o.DB != nil {
		if w, err = events.NewWriter(o.DB, events.Options{Model: o.Name + "-generator"}); err != nil {
			return nil, fmt.Errorf("srgan: recording events: %w", err)
		}
		defer w.Close(context.WithoutCancel(ctx))
		res.Run = w.Run()
	}
	logStep := func(step int, vals map[string]float64) {
		if o.LogEvery > 0 && step%o.LogEvery == 0 {
			o.Log.Info("training", "step", step, "values", vals)
			if w != nil {
				w.Step(int64(step), vals)
			}
		}
	}
	rng := rand.New(rand.NewPCG(o.Seed, 1))
	s, px := a.Size/a.Scale, a.Size*a.Size
	lr, hr := tensor.New(tensor.Float32, o.Batch, s, s, 1), tensor.New(tensor.Float32, o.Batch, a.Size, a.Size, 1)
	steps := o.Train.N / o.Batch
	batches := func(epochs int, fn func(step int) error) error {
		for ep := range epochs {
			perm := rng.Perm(o.Train.N)
			for b := range steps {
				if err := ctx.Err(); err != nil {
					return err
				}
				for i, k := range perm[b*o.Batch : (b+1)*o.Batch] {
					img := hr.Float32s()[i*px : (i+1)*px]
					for j, p := range o.Train.Image(k) {
						img[j] = float32(p)/127.5 - 1
					}
					copy(lr.Float32s()[i*s*s:], downscale(img, a.Size, a.Size, a.Scale))
				}
				if err := fn(ep*steps + b + 1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	test := newEvalSet(o.Test, o.EvalN, a)
	res.Bicubic = test.bicubic()
	err = batches(o.PreEpochs, func(step int) error {
		st, err := n.preStep(lr, hr)
		res.PreSteps = append(res.PreSteps, st.Pixel)
		logStep(step, map[string]float64{"pixel_loss": st.Pixel})
		return err
	})
	if err != nil {
		return nil, err
	}
	pixelOnly, err := test.generate(n)
	if err != nil {
		return nil, err
	}
	res.PixelOnly = test.measure(pixelOnly)
	o.Log.Info("pre-training done", "psnr", res.PixelOnly.PSNR, "ssim", res.PixelOnly.SSIM, "bicubic_psnr", res.Bicubic.PSNR, "bicubic_ssim", res.Bicubic.SSIM)
	if res.PixelVersion, err = record(ctx, o, eng, w, n.gen, "-srresnet", len(res.PreSteps), res.PixelOnly, res.Bicubic); err != nil {
		return nil, err
	}
	pre := len(res.PreSteps)
	err = batches(o.Epochs, func(step int) error {
		st, err := n.step(lr, hr)
		res.Steps = append(res.Steps, st)
		logStep(pre+step, map[string]float64{"d_loss": st.DLoss, "g_loss": st.GLoss, "content_loss": st.Content, "adv_loss": st.Adv, "d_accuracy": st.DAcc})
		return err
	})
	if err != nil {
		return nil, err
	}
	srOut, err := test.generate(n)
	if err != nil {
		return nil, err
	}
	res.SRGAN, res.Upscaled = test.measure(srOut), srOut
	o.Log.Info("srgan done", "psnr", res.SRGAN.PSNR, "ssim", res.SRGAN.SSIM)
	res.Grid = filepath.Join(o.OutDir, "srgan-grid.png")
	if err := test.grid(res.Grid, pixelOnly, srOut, 8); err != nil {
		return nil, err
	}
	if res.GenVersion, err = record(ctx, o, eng, w, n.gen, "-generator", len(res.PreSteps)+len(res.Steps), res.SRGAN, res.Bicubic); err != nil {
		return nil, err
	}
	if _, err = record(ctx, o, eng, w, n.dReal, "-discriminator", len(res.PreSteps)+len(res.Steps), res.SRGAN, res.Bicubic); err != nil {
		return nil, err
	}
	return res, nil
}

// record saves net as a version of NAME+suffix (and in SaveDir) with the
// test-set quality, and logs the quality as a test event at step.
func record(ctx context.Context, o options, eng *graph.Engine, w *events.Writer, net *layers.Layer, suffix string, step int, q, bicubic quality) (int64, error) {
	if err := eng.Pull(); err != nil { // the weights, to save them
		return 0, fmt.Errorf("srgan: %w", err)
	}
	metrics := map[string]float64{"psnr": q.PSNR, "ssim": q.SSIM, "bicubic_psnr": bicubic.PSNR, "bicubic_ssim": bicubic.SSIM}
	if o.SaveDir != "" {
		if err := modelio.Save(ctx, filepath.Join(o.SaveDir, o.Name+suffix), net, map[string]string{"program": "examples/srgan"}); err != nil {
			return 0, err
		}
	}
	if w == nil {
		return 0, nil
	}
	w.Log(events.Event{Phase: events.Test, Step: int64(step), Values: metrics, Fields: map[string]any{"network": o.Name + suffix}})
	ms, err := models.New(ctx, o.DB, models.Options{})
	if err != nil {
		return 0, err
	}
	m, err := netstore.Save(ctx, ms, models.Spec{Name: o.Name + suffix, Metrics: metrics,
		Params:  map[string]any{"pre_epochs": o.PreEpochs, "epochs": o.Epochs, "batch": o.Batch, "scale": o.Arch.Scale, "filters": o.Arch.F, "blocks": o.Arch.Blocks, "seed": o.Seed},
		Lineage: models.Lineage{Dataset: "fashion-mnist", Run: w.Run()}}, net)
	if err != nil {
		return 0, fmt.Errorf("srgan: saving %s%s: %w", o.Name, suffix, err)
	}
	return m.Version, nil
}
