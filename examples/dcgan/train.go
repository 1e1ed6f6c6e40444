package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/tlgo/tl/cpu/par"
	"github.com/tlgo/tl/datasets"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/modelio"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/events"
	"github.com/tlgo/tl/store/models"
	"github.com/tlgo/tl/store/models/netstore"
	"github.com/tlgo/tl/tensor"
)

// options are the command's settings.
type options struct {
	Arch     arch
	Epochs   int
	Batch    int
	LR       float64
	Train    *datasets.Images // the real images (H = W = Arch.Size, one channel)
	OutDir   string           // sample grids: epoch-NNN.png
	SaveDir  string           // "": no files; else generator/ and discriminator/
	Seed     uint64
	LogEvery int
	Device   graph.Device // nil: the CPU
	DB       *store.DB    // nil: record nothing
	Name     string       // the models are NAME-generator and NAME-discriminator
	Judge    *judge       // nil: no per-epoch distance
	JudgeN   int          // samples the judge measures each epoch
	Log      *slog.Logger
}

// epochStats is what an epoch measured.
type epochStats struct {
	DLoss, GLoss, DAcc float64 // means over the epoch's steps
	FID                float64 // -1 without a judge
	Classes            []float64
	Grid               string
	Time               time.Duration
}

// result is what a run measured and saved.
type result struct {
	Epochs     []epochStats
	Steps      []stepStats
	Samples    *tensor.Tensor // the last grid's images, in [-1, 1]
	Run        string
	GenVersion int64
	DisVersion int64
	GenParams  int
	DisParams  int
}

// run trains the GAN: shuffled batches of real images, each a discriminator
// step then a generator step; after every epoch a grid of the generator's
// samples from fixed noise and, with a judge, the distance of JudgeN samples
// to the test set.
func run(ctx context.Context, o options) (*result, error) {
	a := o.Arch
	if o.Train == nil || o.Train.H != a.Size || o.Train.W != a.Size || o.Train.C != 1 {
		return nil, fmt.Errorf("dcgan: training images must be %d×%d×1 (the generator's output)", a.Size, a.Size)
	}
	if o.Batch <= 0 || o.Batch > o.Train.N {
		return nil, fmt.Errorf("dcgan: batch %d: want 1 to %d (the training images)", o.Batch, o.Train.N)
	}
	g := graph.New(o.Seed)
	var od *graph.OnDevice
	if o.Device != nil {
		od = g.OnDevice(o.Device)
		defer od.Close()
	}
	pool := par.NewPool(0)
	defer pool.Close()
	n, err := newGAN(g, a, float32(o.LR), od, pool)
	if err != nil {
		return nil, err
	}
	res := &result{GenParams: n.gen.ParamCount(), DisParams: n.dReal.ParamCount()}
	var w *events.Writer
	if o.DB != nil {
		if w, err = events.NewWriter(o.DB, events.Options{Model: o.Name + "-generator"}); err != nil {
			return nil, fmt.Errorf("dcgan: recording events: %w", err)
		}
		defer w.Close(context.WithoutCancel(ctx))
		res.Run = w.Run()
	}
	rng := rand.New(rand.NewPCG(o.Seed, 1))
	fixed := noise(rand.New(rand.NewPCG(o.Seed, 2)), 64, a.Z)
	px := a.Size * a.Size
	real := tensor.New(tensor.Float32, o.Batch, a.Size, a.Size, 1)
	steps := o.Train.N / o.Batch
	for ep := range o.Epochs {
		start, es := time.Now(), epochStats{FID: -1}
		perm := rng.Perm(o.Train.N)
		for s := range steps {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			for i, k := range perm[s*o.Batch : (s+1)*o.Batch] {
				for j, p := range o.Train.Pixels[k*px : (k+1)*px] {
					real.Float32s()[i*px+j] = float32(p)/127.5 - 1
				}
			}
			st, err := n.step(real, rng)
			if err != nil {
				return nil, err
			}
			res.Steps = append(res.Steps, st)
			es.DLoss += st.DLoss / float64(steps)
			es.GLoss += st.GLoss / float64(steps)
			es.DAcc += st.DAcc / float64(steps)
			step := int64(ep*steps + s + 1)
			if o.LogEvery > 0 && step%int64(o.LogEvery) == 0 {
				o.Log.Info("training", "epoch", ep+1, "step", step, "d_loss", st.DLoss, "g_loss", st.GLoss, "d_acc", st.DAcc)
				if w != nil {
					w.Step(step, map[string]float64{"d_loss": st.DLoss, "g_loss": st.GLoss, "d_accuracy": st.DAcc})
				}
			}
		}
		es.Time = time.Since(start)
		out, err := n.sample.Run(n.z.Feed(fixed))
		if err != nil {
			return nil, fmt.Errorf("dcgan: sampling: %w", err)
		}
		res.Samples = out[0].Clone()
		es.Grid = filepath.Join(o.OutDir, fmt.Sprintf("epoch-%03d.png", ep+1))
		if err := writeGrid(es.Grid, out[0], 8); err != nil {
			return nil, err
		}
		vals := map[string]float64{"d_loss": es.DLoss, "g_loss": es.GLoss, "d_accuracy": es.DAcc}
		if o.Judge != nil {
			if es.FID, es.Classes, err = n.judged(o.Judge, o.JudgeN, rng); err != nil {
				return nil, err
			}
			vals["fid"], vals["fid_floor"], vals["fid_ceiling"] = es.FID, o.Judge.Floor, o.Judge.Ceil
			vals["min_class_share"] = minOf(es.Classes)
		}
		o.Log.Info("epoch done", "epoch", ep+1, "d_loss", es.DLoss, "g_loss", es.GLoss, "d_acc", es.DAcc, "fid", es.FID, "classes", es.Classes, "grid", es.Grid, "time", es.Time.Round(time.Second))
		if w != nil {
			w.Log(events.Event{Phase: events.Validation, Step: int64((ep + 1) * steps), Values: vals})
		}
		res.Epochs = append(res.Epochs, es)
	}
	if od != nil {
		if err := od.Pull(); err != nil {
			return nil, fmt.Errorf("dcgan: copying the weights from the device: %w", err)
		}
	}
	if o.SaveDir != "" {
		meta := map[string]string{"program": "examples/dcgan", "epochs": fmt.Sprint(o.Epochs)}
		if err := modelio.Save(ctx, filepath.Join(o.SaveDir, "generator"), n.gen, meta); err != nil {
			return nil, err
		}
		if err := modelio.Save(ctx, filepath.Join(o.SaveDir, "discriminator"), n.dReal, meta); err != nil {
			return nil, err
		}
	}
	if w != nil {
		if err := save(ctx, o, n, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// judged measures count samples of the generator in inference mode.
func (n *gan) judged(j *judge, count int, rng *rand.Rand) (float64, []float64, error) {
	px := n.a.Size * n.a.Size
	all := tensor.New(tensor.Float32, count, n.a.Size, n.a.Size, 1)
	for lo := 0; lo < count; lo += 500 {
		hi := min(lo+500, count)
		out, err := n.sample.Run(n.z.Feed(noise(rng, hi-lo, n.a.Z)))
		if err != nil {
			return 0, nil, fmt.Errorf("dcgan: sampling for the judge: %w", err)
		}
		for i, v := range out[0].Float32s() {
			all.Float32s()[lo*px+i] = (v + 1) / 2
		}
	}
	return j.measure(all)
}

// save stores both networks as versions, linked to the run of their events.
func save(ctx context.Context, o options, n *gan, res *result) error {
	ms, err := models.New(ctx, o.DB, models.Options{})
	if err != nil {
		return err
	}
	last := res.Epochs[len(res.Epochs)-1]
	metrics := map[string]float64{"d_loss": last.DLoss, "g_loss": last.GLoss, "d_accuracy": last.DAcc}
	if last.FID >= 0 {
		metrics["fid"] = last.FID
	}
	params := map[string]any{"epochs": o.Epochs, "batch": o.Batch, "lr": o.LR, "seed": o.Seed, "z": o.Arch.Z, "gf": o.Arch.GF, "df": o.Arch.DF, "kernel": o.Arch.Kernel}
	lineage := models.Lineage{Dataset: "fashion-mnist", Run: res.Run}
	gm, err := netstore.Save(ctx, ms, models.Spec{Name: o.Name + "-generator", Params: params, Metrics: metrics, Lineage: lineage}, n.gen)
	if err != nil {
		return fmt.Errorf("dcgan: saving the generator: %w", err)
	}
	dm, err := netstore.Save(ctx, ms, models.Spec{Name: o.Name + "-discriminator", Params: params, Metrics: metrics, Lineage: lineage}, n.dReal)
	if err != nil {
		return fmt.Errorf("dcgan: saving the discriminator: %w", err)
	}
	res.GenVersion, res.DisVersion = gm.Version, dm.Version
	return nil
}

func minOf(xs []float64) float64 {
	m := xs[0]
	for _, x := range xs {
		m = min(m, x)
	}
	return m
}
