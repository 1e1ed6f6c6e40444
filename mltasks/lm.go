package mltasks

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/optim"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/dataset"
	"github.com/tlgo/tl/store/events"
	"github.com/tlgo/tl/tensor"
	"github.com/tlgo/tl/train"
)

// LMParams are the parameters of a train-lm task: TensorFlow's ptb_word_lm.
// Preset "small" (the default) or "medium" gives every size; a field set
// (non-zero) overrides the preset's.
type LMParams struct {
	Preset string `json:"preset"`
	// Layers of LSTM of Hidden units, unrolled over Steps words, Batch rows.
	Layers int `json:"layers"`
	Hidden int `json:"hidden"`
	Steps  int `json:"steps"`
	Batch  int `json:"batch"`
	Epochs int `json:"epochs"`
	// KeepProb keeps each embedding and LSTM output with this probability in
	// training (1: no dropout).
	KeepProb float64 `json:"keep_prob"`
	// InitScale: weights start uniform in [-InitScale, InitScale].
	InitScale float64 `json:"init_scale"`
	// SGD at LR for DecayAfter epochs, then multiplied by LRDecay each epoch;
	// gradients clipped to a global norm of MaxGradNorm.
	LR          float64 `json:"lr"`
	LRDecay     float64 `json:"lr_decay"`
	DecayAfter  int     `json:"decay_after"`
	MaxGradNorm float64 `json:"max_grad_norm"`
	// Validation names the dataset (a split of the same corpus) whose
	// perplexity is measured after every epoch.
	Validation string `json:"validation"`
	// Test names a dataset whose perplexity is measured once, after training
	// (the version's test_perplexity).
	Test string `json:"test"`
	// Limit trains on at most this many words (0: all).
	Limit int `json:"limit"`
	// Seed seeds the initial weights and dropout (default 1).
	Seed     uint64 `json:"seed"`
	Alias    string `json:"alias"`
	LogEvery int    `json:"log_every"`
	// Device is "cpu", "cuda", or empty: the GPU on the cuda queue.
	Device string `json:"device"`
}

// lmPreset is ptb_word_lm's SmallConfig or MediumConfig.
func lmPreset(name string) (LMParams, bool) {
	switch name {
	case "small":
		return LMParams{Layers: 2, Hidden: 200, Steps: 20, Batch: 20, Epochs: 13, KeepProb: 1, InitScale: 0.1, LR: 1, LRDecay: 0.5, DecayAfter: 4, MaxGradNorm: 5}, true
	case "medium":
		return LMParams{Layers: 2, Hidden: 650, Steps: 35, Batch: 20, Epochs: 39, KeepProb: 0.5, InitScale: 0.05, LR: 1, LRDecay: 0.8, DecayAfter: 6, MaxGradNorm: 5}, true
	}
	return LMParams{}, false
}

// resolve fills the fields left zero from the preset and checks them.
func (p *LMParams) resolve() error {
	if p.Preset == "" {
		p.Preset = "small"
	}
	pre, ok := lmPreset(p.Preset)
	if !ok {
		return fmt.Errorf("preset %q: want small or medium", p.Preset)
	}
	setInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	setF := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	setInt(&p.Layers, pre.Layers)
	setInt(&p.Hidden, pre.Hidden)
	setInt(&p.Steps, pre.Steps)
	setInt(&p.Batch, pre.Batch)
	setInt(&p.Epochs, pre.Epochs)
	setInt(&p.DecayAfter, pre.DecayAfter)
	setF(&p.KeepProb, pre.KeepProb)
	setF(&p.InitScale, pre.InitScale)
	setF(&p.LR, pre.LR)
	setF(&p.LRDecay, pre.LRDecay)
	setF(&p.MaxGradNorm, pre.MaxGradNorm)
	switch {
	case p.Layers < 1 || p.Hidden < 1 || p.Steps < 1 || p.Batch < 1 || p.Epochs < 1 || p.DecayAfter < 0:
		return fmt.Errorf("layers %d, hidden %d, steps %d, batch %d and epochs %d must be positive, decay_after %d not negative",
			p.Layers, p.Hidden, p.Steps, p.Batch, p.Epochs, p.DecayAfter)
	case p.KeepProb <= 0 || p.KeepProb > 1:
		return fmt.Errorf("keep_prob %g: want (0, 1]", p.KeepProb)
	case p.LR <= 0 || p.LRDecay <= 0 || p.MaxGradNorm < 0 || p.InitScale <= 0:
		return fmt.Errorf("lr %g, lr_decay %g and init_scale %g must be positive, max_grad_norm %g not negative", p.LR, p.LRDecay, p.InitScale, p.MaxGradNorm)
	case p.Limit < 0 || p.LogEvery < 0:
		return fmt.Errorf("limit %d and log_every %d must not be negative", p.Limit, p.LogEvery)
	case p.Device != "" && p.Device != "cpu" && p.Device != "cuda":
		return fmt.Errorf("device %q: want cpu or cuda", p.Device)
	}
	return nil
}

// lmNet is the recurrent language model: its layers and the nodes the loop
// needs.
type lmNet struct {
	logits  *layers.Layer // (batch·steps, vocab), batch-major
	tokens  *graph.Node   // int32 (batch, steps)
	targets *graph.Node   // int32 (batch, steps)
	loss    *graph.Node   // summed over steps, averaged over the batch
	carry   map[*graph.Node]*graph.Node
}

// newLM builds ptb_word_lm's model: an embedding, Layers LSTMs whose state
// enters through the inputs h<i>, c<i> and leaves as their Aux h, c (carried
// from batch to batch), dropout on the embedding and every LSTM output when
// KeepProb < 1, and a softmax layer over the vocabulary. The loss is
// SequenceCrossEntropy: summed over the window's steps, averaged over the
// batch, as ptb_word_lm's (the form its learning rate 1 and clip 5 are for).
func newLM(g *graph.Graph, p LMParams, vocab int) (*lmNet, error) {
	init := layers.WInit(tensor.Uniform(-p.InitScale, p.InitScale))
	keep := float32(p.KeepProb)
	tok := layers.IntInput(g, "tokens", -1, p.Steps)
	x := layers.Embedding(tok, "embedding", vocab, p.Hidden, init)
	if keep < 1 {
		x = layers.Dropout(x, "embedding_dropout", keep)
	}
	for i := range p.Layers {
		id := strconv.Itoa(i + 1)
		h0 := layers.Input(g, "h"+id, -1, p.Hidden)
		c0 := layers.Input(g, "c"+id, -1, p.Hidden)
		opts := []layers.Option{layers.InitialState(h0, c0), layers.ForgetBias(0), init}
		if keep < 1 {
			opts = append(opts, layers.OutputDropout(keep))
		}
		x = layers.LSTM(x, "lstm"+id, p.Hidden, opts...)
		if err := x.Err(); err != nil {
			return nil, err
		}
	}
	x = layers.Reshape(x, "rows", -1, p.Hidden)
	logits := layers.Dense(x, "softmax", vocab, init)
	if err := logits.Err(); err != nil {
		return nil, err
	}
	return lmFromNet(logits, p.Layers)
}

// lmFromNet finds the nodes of a language model built by newLM, or rebuilt
// from a saved version's architecture (netstore.Load), and adds its loss.
func lmFromNet(logits *layers.Layer, nLayers int) (*lmNet, error) {
	n := &lmNet{logits: logits, carry: map[*graph.Node]*graph.Node{}}
	tok := logits.Find("tokens")
	if tok == nil || len(tok.Shape()) != 2 || tok.Shape()[1] <= 0 {
		return nil, fmt.Errorf("language model %q: no input \"tokens\" (batch, steps)", logits.Name())
	}
	n.tokens = tok.Output()
	for i := range nLayers {
		id := strconv.Itoa(i + 1)
		lstm, h0, c0 := logits.Find("lstm"+id), logits.Find("h"+id), logits.Find("c"+id)
		if lstm == nil || h0 == nil || c0 == nil || lstm.Aux("h") == nil || lstm.Aux("c") == nil {
			return nil, fmt.Errorf("language model %q: no layer lstm%s with inputs h%s and c%s", logits.Name(), id, id, id)
		}
		n.carry[lstm.Aux("h")] = h0.Output()
		n.carry[lstm.Aux("c")] = c0.Output()
	}
	steps := tok.Shape()[1]
	n.targets = logits.Graph().Placeholder("targets", tensor.Int32, -1, steps)
	n.loss = graph.SequenceCrossEntropy(logits.Output(), n.targets, steps)
	if err := n.loss.Err(); err != nil {
		return nil, err
	}
	return n, nil
}

// perplexity is exp of a SequenceCrossEntropy value divided by the steps:
// the exponential of the mean loss per word.
func perplexity(loss float64, steps int) float64 { return math.Exp(loss / float64(steps)) }

// trainLM is the "train-lm" kind: a recurrent language model trained on the
// windows of a token view in ptb_producer order, the LSTM state carried from
// batch to batch (train.Config.Carry), saved as a version of the task's model
// with the train and validation perplexities.
// openTextTask reads the task's params into p (over its defaults) and checks
// them with check, checks what every task on a token split needs (an input
// split and a model name: hint says how to make a split) and opens the split.
func openTextTask(ctx context.Context, run *task.Run, p any, check func() error, hint string, samples samplesFunc) (*store.DB, *dataset.Collection, *corpusView, error) {
	t := run.Task
	if err := run.Params(p); err != nil {
		return nil, nil, nil, err
	}
	if err := check(); err != nil {
		return nil, nil, nil, task.Permanent(fmt.Errorf("mltasks: %s task %s: params: %w", t.Kind, t.ID, err))
	}
	if t.Input == "" || t.Model == "" {
		return nil, nil, nil, task.Permanent(fmt.Errorf("mltasks: %s task %s needs an input dataset (a token split: %s) and a model name (got input %q, model %q)", t.Kind, t.ID, hint, t.Input, t.Model))
	}
	if err := store.ValidateName("model", t.Model); err != nil {
		return nil, nil, nil, task.Permanent(fmt.Errorf("mltasks: %s task %s: %w", t.Kind, t.ID, err))
	}
	db, err := storeOf(run)
	if err != nil {
		return nil, nil, nil, err
	}
	coll, err := samples(ctx, db)
	if err != nil {
		return nil, nil, nil, err
	}
	c, err := openCorpus(ctx, coll, t.Input)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("mltasks: %s task %s: %w", t.Kind, t.ID, err)
	}
	return db, coll, c, nil
}

func trainLM(dev deviceFunc, samples samplesFunc) task.Func {
	return func(ctx context.Context, run *task.Run) (json.RawMessage, error) {
		t := run.Task
		p := LMParams{Seed: 1}
		db, coll, c, err := openTextTask(ctx, run, &p, p.resolve, "tl import ptb DIR --define ptb makes ptb-train", samples)
		if err != nil {
			return nil, err
		}
		log := run.Logger()
		// In ptb_producer's order, streamed: the state carries over.
		loader, err := newTokenStream(c, p.Batch, p.Steps, p.Limit)
		if err != nil {
			return nil, task.Permanent(fmt.Errorf("mltasks: train-lm task %s: dataset %q: %w", t.ID, t.Input, err))
		}
		words := c.Words()
		if p.Limit > 0 {
			words = min(words, p.Limit)
		}
		// The other splits first: a bad one fails before hours of training.
		valLoader, err := lmSplit(ctx, coll, "validation", p.Validation, c, p)
		if err != nil {
			return nil, fmt.Errorf("mltasks: train-lm task %s: %w", t.ID, err)
		}
		testLoader, err := lmSplit(ctx, coll, "test", p.Test, c, p)
		if err != nil {
			return nil, fmt.Errorf("mltasks: train-lm task %s: %w", t.ID, err)
		}

		g := graph.New(p.Seed)
		net, err := newLM(g, p, len(c.Vocab))
		if err != nil {
			return nil, task.Permanent(fmt.Errorf("mltasks: train-lm task %s: %w", t.ID, err))
		}
		opt := optim.NewSGD(g, "sgd", float32(p.LR))
		step, err := optim.MinimizeWith(opt, net.loss, optim.MinimizeOptions{Vars: net.logits.Trainable(), ClipNorm: float32(p.MaxGradNorm)})
		if err != nil {
			return nil, err
		}
		loop, closeLoop, err := newLoop(dev, t, p.Device, g, train.Config{Inputs: []*graph.Node{net.tokens, net.targets}, Loss: net.loss, Update: step.Update, Carry: net.carry})
		if err != nil {
			return nil, err
		}
		defer closeLoop()
		// ptb_word_lm's schedule: lr·decay^max(epoch+1-decay_after, 0).
		loop.Use(train.EpochSchedule(opt, ptbSchedule{lr: p.LR, decay: p.LRDecay, after: p.DecayAfter}))
		if valLoader != nil {
			ev, err := loop.NewEvaluator()
			if err != nil {
				return nil, err
			}
			defer ev.Close()
			loop.Use(train.Evaluate(ev, valLoader, "val_"))
		}
		loop.Use(perplexityHook(p.Steps))
		w, err := events.NewWriter(db, events.Options{Model: t.Model})
		if err != nil {
			return nil, fmt.Errorf("mltasks: train-lm task %s: events: %w", t.ID, err)
		}
		defer closeEvents(ctx, w, log)
		loop.Use(eventHooks(w, run, p.LogEvery, log, map[string]any{"kind": t.Kind,
			"preset": p.Preset, "layers": p.Layers, "hidden": p.Hidden, "steps": p.Steps, "batch": p.Batch,
			"epochs": p.Epochs, "lr": p.LR, "keep_prob": p.KeepProb, "words": words, "vocab": len(c.Vocab),
		})...)
		log.Info("training a language model", "model", t.Model, "run", w.Run(), "dataset", t.Input, "words", words,
			"vocab", len(c.Vocab), "preset", p.Preset, "layers", p.Layers, "hidden", p.Hidden, "steps", p.Steps,
			"batch", p.Batch, "epochs", p.Epochs, "steps_per_epoch", loader.Batches())
		start := time.Now()
		st, err := loop.Run(ctx, loader, p.Epochs)
		if err != nil {
			return nil, fmt.Errorf("mltasks: train-lm task %s: %w", t.ID, err)
		}
		secs := time.Since(start).Seconds()
		metrics := map[string]float64{"train_loss": st.Values[train.MetricLoss], "train_perplexity": st.Values["perplexity"]}
		for _, k := range []string{"val_loss", "val_perplexity"} {
			if v, ok := st.Values[k]; ok {
				metrics[k] = v
			}
		}
		if testLoader != nil {
			ev, err := loop.NewEvaluator()
			if err != nil {
				return nil, err
			}
			r, err := ev.Evaluate(ctx, testLoader)
			ev.Close()
			if err != nil {
				return nil, fmt.Errorf("mltasks: train-lm task %s: test %q: %w", t.ID, p.Test, err)
			}
			metrics["test_loss"], metrics["test_perplexity"] = r.Loss, perplexity(r.Loss, p.Steps)
			w.Log(events.Event{Phase: events.Test, Step: int64(st.Step), Values: map[string]float64{"loss": r.Loss, "perplexity": metrics["test_perplexity"]},
				Fields: map[string]any{"dataset": p.Test, "task": t.Key()}})
			log.Info("test perplexity", "dataset", p.Test, "perplexity", round4(metrics["test_perplexity"]))
		}
		m, err := saveTrained(ctx, db, w, t, p.Alias, st.Step, map[string]any{"kind": t.Kind, "preset": p.Preset, "layers": p.Layers, "hidden": p.Hidden, "steps": p.Steps,
			"batch": p.Batch, "epochs": p.Epochs, "lr": p.LR, "lr_decay": p.LRDecay, "decay_after": p.DecayAfter,
			"keep_prob": p.KeepProb, "max_grad_norm": p.MaxGradNorm, "seed": p.Seed,
			"vocab": c.VocabKey, "vocab_words": len(c.Vocab), "loss": "sequence_cross_entropy (summed over steps, averaged over the batch)",
		}, metrics, net.logits)
		if err != nil {
			return nil, err
		}
		attrs := []any{"model", m.Name, "version", m.Version, "run", w.Run()}
		for _, k := range []string{"train_perplexity", "val_perplexity", "test_perplexity"} {
			if v, ok := metrics[k]; ok {
				attrs = append(attrs, k, round4(v))
			}
		}
		log.Info("trained a language model", append(attrs, "seconds", math.Round(secs))...)
		return json.Marshal(map[string]any{"model": m.Name, "version": m.Version, "run": w.Run(), "metrics": metrics,
			"words": words, "vocab": len(c.Vocab), "seconds": secs})
	}
}

// lmSplit opens another split of the input's corpus (what params.what
// names; none: nil) as batches in ptb_producer order, streamed.
func lmSplit(ctx context.Context, coll *dataset.Collection, what, name string, train *corpusView, p LMParams) (*tokenStream, error) {
	if name == "" {
		return nil, nil
	}
	c, err := openCorpus(ctx, coll, name)
	if err != nil {
		return nil, fmt.Errorf("params.%s: %w", what, err)
	}
	if c.VocabKey != train.VocabKey {
		return nil, task.Permanent(fmt.Errorf("params.%s %q has vocabulary %q, the input's is %q: its ids mean other words", what, name, c.VocabKey, train.VocabKey))
	}
	s, err := newTokenStream(c, p.Batch, p.Steps, 0)
	if err != nil {
		return nil, task.Permanent(fmt.Errorf("params.%s %q: %w", what, name, err))
	}
	return s, nil
}

// ptbSchedule is ptb_word_lm's learning rate by epoch (from 0):
// lr·decay^max(epoch+1-after, 0).
type ptbSchedule struct {
	lr, decay float64
	after     int
}

// At implements optim.Schedule.
func (s ptbSchedule) At(epoch int) float32 {
	return float32(s.lr * math.Pow(s.decay, float64(max(epoch+1-s.after, 0))))
}

// samplesFunc opens the store's samples (with the agent's disk cache).
type samplesFunc func(ctx context.Context, db *store.DB) (*dataset.Collection, error)

// deviceFunc gives a task its device (nil: the CPU) and a release function;
// want is params.device ("cpu", "cuda", or "": by the task's queue).
type deviceFunc func(t *task.Task, want string) (graph.Device, func(), error)

// registerText adds the kinds "train-lm" and "word2vec" to r.
func (k *Kinds) registerText(r *task.Registry) error {
	if err := r.RegisterWithParams("train-lm", trainLM(k.device, k.samples), LMParams{}); err != nil {
		return err
	}
	return r.RegisterWithParams("word2vec", trainWord2vec(k.device, k.samples), W2VParams{})
}

// perplexityHook adds "perplexity" and "val_perplexity" to the values at the
// end of every epoch (after Evaluate, before the hooks that record them).
func perplexityHook(steps int) train.Hook {
	return train.Hook{Name: "perplexity", EpochEnd: func(_ context.Context, s *train.State) error {
		if v, ok := s.Values[train.MetricLoss]; ok {
			s.Values["perplexity"] = perplexity(v, steps)
		}
		if v, ok := s.Values["val_loss"]; ok {
			s.Values["val_perplexity"] = perplexity(v, steps)
		}
		return nil
	}}
}
