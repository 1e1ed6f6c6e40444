package mltasks

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/mltasks/netstore"
	"github.com/tlgo/tl/mltasks/trainevents"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/events"
	"github.com/tlgo/tl/store/models"
	"github.com/tlgo/tl/train"
)

// What the kinds that train (train, train-lm, word2vec) and evaluate share
// around the train package: the device, the run's events, the saved version.

// placeOn gives cfg the device the task asks for (want is params.device, as
// deviceFunc takes it): on a GPU, cfg.Device becomes g's copy there. release
// frees the copy and the device: call it after the loop and evaluators close.
func placeOn(dev deviceFunc, t *task.Task, want string, g *graph.Graph, cfg *train.Config) (release func(), err error) {
	d, unlock, err := dev(t, want)
	if err != nil {
		return nil, err
	}
	if d == nil {
		return unlock, nil
	}
	od := g.OnDevice(d)
	cfg.Device = od
	return func() {
		od.Close()
		unlock()
	}, nil
}

// newLoop is train.New(cfg) on the device the task asks for (placeOn).
// done closes the loop, then releases the device.
func newLoop(dev deviceFunc, t *task.Task, want string, g *graph.Graph, cfg train.Config) (loop *train.Loop, done func(), err error) {
	release, err := placeOn(dev, t, want, g, &cfg)
	if err != nil {
		return nil, nil, err
	}
	if loop, err = train.New(cfg); err != nil {
		release()
		return nil, nil, err
	}
	return loop, func() {
		loop.Close()
		release()
	}, nil
}

// eventHooks write a run's training events to w every `every` steps, with
// fields and who ran which task on what (task, attempt, agent, dataset), and
// log its progress as often.
func eventHooks(w *events.Writer, run *task.Run, every int, log *slog.Logger, fields map[string]any) []train.Hook {
	t := run.Task
	fields["task"], fields["attempt"], fields["agent"], fields["dataset"] = t.Key(), run.Attempt, run.Agent, t.Input
	return []train.Hook{trainevents.Hook(w, trainevents.Options{Every: every, Fields: fields}), train.LogProgress(log, every)}
}

// saveTrained saves net (its architecture and weights) as the next version
// of the task's model, trained in w's run, with params and metrics, and marks
// it (markVersion).
func saveTrained(ctx context.Context, db *store.DB, w *events.Writer, t *task.Task, alias string, step int, params map[string]any, metrics map[string]float64, net *layers.Layer) (*models.Model, error) {
	ms, err := models.New(ctx, db, models.Options{})
	if err != nil {
		return nil, err
	}
	m, err := netstore.Save(ctx, ms, models.Spec{Name: t.Model, Params: params, Metrics: metrics,
		Lineage: models.Lineage{Dataset: t.Input, Task: t.Key(), Run: w.Run()}}, net)
	if err != nil {
		return nil, fmt.Errorf("mltasks: saving model %s: %w", t.Model, err)
	}
	return m, markVersion(ctx, ms, w, t, alias, step, m)
}

// markVersion ends a run that saved m: the run names the version it produced
// (an event at step), and alias, when set, points at m.
func markVersion(ctx context.Context, ms *models.Store, w *events.Writer, t *task.Task, alias string, step int, m *models.Model) error {
	w.Log(events.Event{Phase: events.Train, Step: int64(step), Fields: map[string]any{"model_version": m.Version, "task": t.Key()}})
	if alias == "" {
		return nil
	}
	return ms.Alias(ctx, t.Model, alias, m.Version)
}
