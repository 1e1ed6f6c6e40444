package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/tlgo/tl/formats"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/mltasks/netstore"
	"github.com/tlgo/tl/modelio"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/events"
	"github.com/tlgo/tl/store/models"
	"github.com/tlgo/tl/tensor"
)

// options are the command's settings.
type options struct {
	Arch      arch
	Epochs    int
	Batch     int
	LR        float64
	DLR       float64         // the discriminator's learning rate; 0: LR
	RealLabel float64         // the discriminator's target for real images; 0: 1 (0.9: one-sided label smoothing)
	Train     *formats.Images // the real images (H = W = Arch.Size, one channel)
	OutDir    string          // sample grids: epoch-NNN.png
	SaveDir   string          // "": no files; else generator/ and discriminator/
	Seed      uint64
	LogEvery  int
	Device    graph.Device // nil: the CPU
	DB        *store.DB    // nil: record nothing
	Name      string       // the models are NAME-generator and NAME-discriminator
	Judge     *judge       // nil: no per-epoch distance
	JudgeN    int          // samples the judge measures each epoch
	Log       *slog.Logger
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

// recorder is everything a run leaves behind: the log, the training events,
// the sample grids, the judge's measures, the saved networks.
type recorder struct {
	o     options
	n     *gan
	w     *events.Writer
	res   *result
	fixed *tensor.Tensor // the grids' noise
	steps int            // per epoch
	cur   epochStats
	start time.Time // of the current epoch
}

func newRecorder(ctx context.Context, o options, n *gan, steps int) (*recorder, error) {
	r := &recorder{o: o, n: n, steps: steps, cur: epochStats{FID: -1}, start: time.Now(),
		res:   &result{GenParams: n.gen.ParamCount(), DisParams: n.dReal.ParamCount()},
		fixed: noise(rand.New(rand.NewPCG(o.Seed, 2)), 64, o.Arch.Z)}
	if o.DB != nil {
		w, err := events.NewWriter(o.DB, events.Options{Model: o.Name + "-generator"})
		if err != nil {
			return nil, fmt.Errorf("dcgan: recording events: %w", err)
		}
		r.w, r.res.Run = w, w.Run()
	}
	return r, nil
}

func (r *recorder) close(ctx context.Context) {
	if r.w != nil {
		if err := r.w.Close(context.WithoutCancel(ctx)); err != nil {
			r.o.Log.Warn("training events not all written", "run", r.w.Run(), "err", err)
		}
	}
}

// step accounts for step s of epoch ep; every LogEvery steps it logs and
// records the step's losses.
func (r *recorder) step(ep, s int, st stepStats) {
	r.res.Steps = append(r.res.Steps, st)
	r.cur.DLoss += st.DLoss / float64(r.steps)
	r.cur.GLoss += st.GLoss / float64(r.steps)
	r.cur.DAcc += st.DAcc / float64(r.steps)
	step := int64(ep*r.steps + s + 1)
	if r.o.LogEvery > 0 && step%int64(r.o.LogEvery) == 0 {
		r.o.Log.Info("training", "epoch", ep+1, "step", step, "d_loss", st.DLoss, "g_loss", st.GLoss, "d_acc", st.DAcc)
		if r.w != nil {
			r.w.Step(step, map[string]float64{"d_loss": st.DLoss, "g_loss": st.GLoss, "d_accuracy": st.DAcc})
		}
	}
}

// epoch ends epoch ep: the grid of samples from the fixed noise, the judge's
// measure, the epoch's means as a validation event.
func (r *recorder) epoch(ep int, rng *rand.Rand) error {
	es := r.cur
	es.Time, r.cur = time.Since(r.start), epochStats{FID: -1}
	defer func() { r.start = time.Now() }()
	out, err := r.n.sample.Run(r.n.z.Feed(r.fixed))
	if err != nil {
		return fmt.Errorf("dcgan: sampling: %w", err)
	}
	r.res.Samples = out[0].Clone()
	es.Grid = filepath.Join(r.o.OutDir, fmt.Sprintf("epoch-%03d.png", ep+1))
	if err := writeGrid(es.Grid, out[0], 8); err != nil {
		return err
	}
	vals := map[string]float64{"d_loss": es.DLoss, "g_loss": es.GLoss, "d_accuracy": es.DAcc}
	if j := r.o.Judge; j != nil {
		if es.FID, es.Classes, err = r.n.judged(j, r.o.JudgeN, rng); err != nil {
			return err
		}
		vals["fid"], vals["fid_floor"], vals["fid_ceiling"] = es.FID, j.Floor, j.Ceil
		vals["min_class_share"] = minOf(es.Classes)
	}
	r.o.Log.Info("epoch done", "epoch", ep+1, "d_loss", es.DLoss, "g_loss", es.GLoss, "d_acc", es.DAcc, "fid", es.FID, "classes", es.Classes, "grid", es.Grid, "time", es.Time.Round(time.Second))
	if r.w != nil {
		r.w.Log(events.Event{Phase: events.Validation, Step: int64((ep + 1) * r.steps), Values: vals})
		if grid, err := os.ReadFile(es.Grid); err == nil { // shown on tl ui's run page
			r.w.Log(events.Event{Step: int64((ep + 1) * r.steps), Fields: map[string]any{events.ImageField: grid}})
		}
	}
	r.res.Epochs = append(r.res.Epochs, es)
	return nil
}

// finish saves the networks (files with SaveDir, versions with a store).
func (r *recorder) finish(ctx context.Context) (*result, error) {
	o, n := r.o, r.n
	if o.SaveDir != "" {
		meta := map[string]string{"program": "examples/dcgan", "epochs": fmt.Sprint(o.Epochs)}
		if err := modelio.Save(ctx, filepath.Join(o.SaveDir, "generator"), n.gen, meta); err != nil {
			return nil, err
		}
		if err := modelio.Save(ctx, filepath.Join(o.SaveDir, "discriminator"), n.dReal, meta); err != nil {
			return nil, err
		}
	}
	if r.w != nil {
		if err := save(ctx, o, n, r.res); err != nil {
			return nil, err
		}
	}
	return r.res, nil
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
	params := map[string]any{"epochs": o.Epochs, "batch": o.Batch, "lr": o.LR, "d_lr": cmp.Or(o.DLR, o.LR), "real_label": cmp.Or(o.RealLabel, 1), "seed": o.Seed, "z": o.Arch.Z, "gf": o.Arch.GF, "df": o.Arch.DF, "kernel": o.Arch.Kernel}
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
