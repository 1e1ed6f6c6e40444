package mltasks

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/feed"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/optim"
	"github.com/tlgo/tl/store/events"
	"github.com/tlgo/tl/tensor"
	"github.com/tlgo/tl/train"
)

// W2VParams are the parameters of a word2vec task: skip-gram with
// noise-contrastive estimation, as TensorFlow's word2vec_basic (its values
// are the defaults).
type W2VParams struct {
	Dim        int     `json:"dim"`         // embedding size (128)
	Batch      int     `json:"batch"`       // pairs per step (128)
	SkipWindow int     `json:"skip_window"` // words on each side of a centre (1)
	NumSkips   int     `json:"num_skips"`   // contexts drawn per centre (2)
	NumSampled int     `json:"num_sampled"` // negative samples per step (64)
	LR         float64 `json:"lr"`          // SGD learning rate (1)
	Epochs     int     `json:"epochs"`      // passes over the pairs (1)
	// Steps, when positive, stops after this many steps (word2vec_basic: 100001).
	Steps int `json:"steps"`
	// Probe are words whose nearest neighbours (by cosine similarity of the
	// embeddings) the task reports; Neighbours is how many (8).
	Probe      []string `json:"probe"`
	Neighbours int      `json:"neighbours"`
	// Limit trains on at most this many words of the text (0: all).
	Limit    int    `json:"limit"`
	Seed     uint64 `json:"seed"`
	Alias    string `json:"alias"`
	LogEvery int    `json:"log_every"`
	// Device is "cpu", "cuda", or empty: the GPU on the cuda queue.
	Device string `json:"device"`
}

func (p *W2VParams) check() error {
	switch {
	case p.Dim < 1 || p.Batch < 1 || p.NumSampled < 1 || p.Epochs < 1 || p.Neighbours < 1:
		return fmt.Errorf("dim %d, batch %d, num_sampled %d, epochs %d and neighbours %d must be positive", p.Dim, p.Batch, p.NumSampled, p.Epochs, p.Neighbours)
	case p.SkipWindow < 1 || p.NumSkips < 1 || p.NumSkips > 2*p.SkipWindow:
		return fmt.Errorf("skip_window %d must be positive and num_skips %d in [1, 2·skip_window]", p.SkipWindow, p.NumSkips)
	case p.LR <= 0 || p.Steps < 0 || p.Limit < 0 || p.LogEvery < 0:
		return fmt.Errorf("lr %g must be positive, steps %d, limit %d and log_every %d not negative", p.LR, p.Steps, p.Limit, p.LogEvery)
	case p.Device != "" && p.Device != "cpu" && p.Device != "cuda":
		return fmt.Errorf("device %q: want cpu or cuda", p.Device)
	}
	return nil
}

// trainWord2vec is the "word2vec" kind: skip-gram embeddings of a token
// view's words, saved as a version of the task's model (the layer
// "word2vec": embeddings, NCE weights and biases), and the nearest
// neighbours of params.probe in the output and the log.
func trainWord2vec(dev deviceFunc, samples samplesFunc) task.Func {
	return func(ctx context.Context, run *task.Run) (json.RawMessage, error) {
		t := run.Task
		p := W2VParams{Dim: 128, Batch: 128, SkipWindow: 1, NumSkips: 2, NumSampled: 64, LR: 1, Epochs: 1, Neighbours: 8, Seed: 1}
		db, _, c, err := openTextTask(ctx, run, &p, p.check, "tl import text8 FILE --define text8 makes text8-train", samples)
		if err != nil {
			return nil, err
		}
		log := run.Logger()
		probe := make([]int, len(p.Probe))
		for i, w := range p.Probe {
			if probe[i] = c.ID(w); probe[i] < 0 {
				return nil, task.Permanent(fmt.Errorf("mltasks: word2vec task %s: params.probe[%d] %q is not in the vocabulary %q of %d words", t.ID, i, w, c.VocabKey, len(c.Vocab)))
			}
		}
		if p.NumSampled > len(c.Vocab) {
			return nil, task.Permanent(fmt.Errorf("mltasks: word2vec task %s: num_sampled %d is more than the vocabulary's %d words", t.ID, p.NumSampled, len(c.Vocab)))
		}
		// Pairs from all over the text (a shuffled loader): the ids in memory.
		ids, err := c.IDs(ctx, p.Limit)
		if err != nil {
			return nil, fmt.Errorf("mltasks: word2vec task %s: %w", t.ID, err)
		}
		src, err := feed.NewSkipGram(ids, p.SkipWindow, p.NumSkips, p.Seed)
		if err != nil {
			return nil, task.Permanent(fmt.Errorf("mltasks: word2vec task %s: dataset %q: %w", t.ID, t.Input, err))
		}
		loader, err := feed.NewLoader(src, p.Batch, feed.Shuffle(p.Seed), feed.DropRemainder())
		if err != nil {
			return nil, err
		}
		if loader.Batches() == 0 {
			return nil, task.Permanent(fmt.Errorf("mltasks: word2vec task %s: %d pairs make no batch of %d", t.ID, src.Len(), p.Batch))
		}

		g := graph.New(p.Seed)
		words := layers.IntInput(g, "words", -1)
		contexts := layers.IntInput(g, "context", -1)
		w2v := layers.Word2vecEmbedding(words, contexts, "word2vec", len(c.Vocab), p.Dim, p.NumSampled, layers.UniqueSampling())
		if err := w2v.Err(); err != nil {
			return nil, task.Permanent(fmt.Errorf("mltasks: word2vec task %s: %w", t.ID, err))
		}
		loss := w2v.Aux("nce_loss")
		update, err := optim.Minimize(optim.NewSGD(g, "sgd", float32(p.LR)), loss, w2v.Trainable()...)
		if err != nil {
			return nil, err
		}
		loop, closeLoop, err := newLoop(dev, t, p.Device, g, train.Config{Inputs: []*graph.Node{words.Output(), contexts.Output()}, Loss: loss, Update: update})
		if err != nil {
			return nil, err
		}
		defer closeLoop()
		epochs := p.Epochs
		if p.Steps > 0 {
			epochs = max(epochs, (p.Steps+loader.Batches()-1)/loader.Batches())
			loop.Use(train.Hook{Name: "steps", StepEnd: func(_ context.Context, s *train.State) error {
				if s.Step >= p.Steps {
					return train.ErrStop
				}
				return nil
			}})
		}
		w, err := events.NewWriter(db, events.Options{Model: t.Model})
		if err != nil {
			return nil, fmt.Errorf("mltasks: word2vec task %s: events: %w", t.ID, err)
		}
		defer closeEvents(ctx, w, log)
		loop.Use(eventHooks(w, run, p.LogEvery, log, map[string]any{"kind": t.Kind,
			"dim": p.Dim, "batch": p.Batch, "skip_window": p.SkipWindow, "num_skips": p.NumSkips,
			"num_sampled": p.NumSampled, "lr": p.LR, "words": len(ids), "vocab": len(c.Vocab),
		})...)
		log.Info("training word2vec", "model", t.Model, "run", w.Run(), "dataset", t.Input, "words", len(ids),
			"vocab", len(c.Vocab), "pairs", src.Len(), "epochs", epochs, "steps", p.Steps, "steps_per_epoch", loader.Batches())
		start := time.Now()
		st, err := loop.Run(ctx, loader, epochs)
		if err != nil {
			return nil, fmt.Errorf("mltasks: word2vec task %s: %w", t.ID, err)
		}
		secs := time.Since(start).Seconds()
		emb := w2v.Params()[0] // word2vec/embeddings (vocab, dim)
		neighbours := map[string][]string{}
		for i, id := range probe {
			near := nearest(emb.Tensor(), id, p.Neighbours)
			ws := make([]string, len(near))
			for j, n := range near {
				ws[j] = c.Vocab[n]
			}
			neighbours[p.Probe[i]] = ws
			log.Info("nearest neighbours", "word", p.Probe[i], "neighbours", strings.Join(ws, " "))
		}
		metrics := map[string]float64{"train_loss": st.Values[train.MetricLoss]}
		m, err := saveTrained(ctx, db, w, t, p.Alias, st.Step, map[string]any{"kind": t.Kind, "dim": p.Dim, "batch": p.Batch, "skip_window": p.SkipWindow, "num_skips": p.NumSkips,
			"num_sampled": p.NumSampled, "lr": p.LR, "epochs": epochs, "steps": st.Step, "seed": p.Seed,
			"vocab": c.VocabKey, "vocab_words": len(c.Vocab), "neighbours": neighbours,
		}, metrics, w2v)
		if err != nil {
			return nil, err
		}
		log.Info("trained word2vec", "model", m.Name, "version", m.Version, "run", w.Run(), "loss", round4(metrics["train_loss"]), "steps", st.Step, "seconds", math.Round(secs))
		return json.Marshal(map[string]any{"model": m.Name, "version": m.Version, "run": w.Run(), "metrics": metrics,
			"neighbours": neighbours, "steps": st.Step, "words": len(ids), "vocab": len(c.Vocab), "seconds": secs})
	}
}

// nearest returns the k rows of emb (vocab, dim) closest to row id by cosine
// similarity, most similar first, id itself excluded.
func nearest(emb *tensor.Tensor, id, k int) []int {
	v, d := emb.Shape()[0], emb.Shape()[1]
	x := emb.Float32s()
	norm := func(r int) float64 {
		var s float64
		for _, e := range x[r*d : (r+1)*d] {
			s += float64(e) * float64(e)
		}
		return math.Sqrt(s) + 1e-12
	}
	q, qn := x[id*d:(id+1)*d], norm(id)
	type scored struct {
		row int
		sim float64
	}
	all := make([]scored, 0, v-1)
	for r := range v {
		if r == id {
			continue
		}
		var dot float64
		for j, e := range x[r*d : (r+1)*d] {
			dot += float64(e) * float64(q[j])
		}
		all = append(all, scored{r, dot / (norm(r) * qn)})
	}
	slices.SortFunc(all, func(a, b scored) int {
		if a.sim != b.sim {
			if a.sim > b.sim {
				return -1
			}
			return 1
		}
		return a.row - b.row
	})
	out := make([]int, 0, k)
	for _, s := range all[:min(k, len(all))] {
		out = append(out, s.row)
	}
	return out
}
