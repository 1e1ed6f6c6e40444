package mltasks

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/cuda/cudatest"
	"github.com/tlgo/tl/feed"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/internal/testworld"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/mltasks/netstore"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/dataset"
	"github.com/tlgo/tl/store/models"
	"github.com/tlgo/tl/store/storetest"
	"github.com/tlgo/tl/tensor"
	"github.com/tlgo/tl/train"
)

// storeCorpus stores splits of word ids as 'tl import ptb' does (windows of
// window ids, a vocabulary sample) and defines PREFIX-SPLIT for each.
func storeCorpus(t *testing.T, db *store.DB, prefix string, words []string, splits map[string][]int32, window int) {
	t.Helper()
	ctx := storetest.Context(t)
	coll, err := dataset.FromStore(ctx, db, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	counts := make([]int, len(words))
	for _, id := range splits["train"] {
		counts[id]++
	}
	var vocab strings.Builder
	for i, w := range words {
		fmt.Fprintf(&vocab, "%s\t%d\n", w, counts[i])
	}
	vk := prefix + "/vocab"
	ss := []dataset.Sample{{Key: vk, Bytes: []byte(vocab.String()), Tags: []string{"vocab"}, Fields: map[string]any{"unk": -1}}}
	for split, ids := range splits {
		for i, off := 0, 0; off < len(ids); i, off = i+1, off+window {
			end := min(off+window, len(ids))
			ss = append(ss, dataset.Sample{Key: fmt.Sprintf("%s/%s/%06d", prefix, split, i), Tensor: dataset.Int32Tensor([]int{end - off}, ids[off:end]),
				Tags: []string{split}, Fields: map[string]any{"offset": off, "vocab": vk, "split": split}})
		}
		if _, err := coll.Define(ctx, prefix+"-"+split, dataset.Query{Tags: []string{split}, KeyPrefix: prefix + "/"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := coll.Insert(ctx, ss...); err != nil {
		t.Fatal(err)
	}
}

// markovText is a text where each of vocab words is followed by one of two
// successors (w+1 or 3w+2 mod vocab) with equal odds: about one bit a word,
// perplexity near 2, while the unigram perplexity is near vocab.
func markovText(n, vocab int, seed uint64) []int32 {
	rng := tensor.NewRand(seed)
	ids := make([]int32, n)
	w := 0
	for i := range ids {
		ids[i] = int32(w)
		if rng.IntN(2) == 0 {
			w = (w + 1) % vocab
		} else {
			w = (3*w + 2) % vocab
		}
	}
	return ids
}

// unigramPerplexity is exp of the entropy of ids' word frequencies: what a
// model that ignores the context can reach at best.
func unigramPerplexity(ids []int32) float64 {
	counts := map[int32]int{}
	for _, id := range ids {
		counts[id]++
	}
	var h float64
	for _, c := range counts {
		p := float64(c) / float64(len(ids))
		h -= p * math.Log(p)
	}
	return math.Exp(h)
}

func wordList(n int) []string {
	ws := make([]string, n)
	for i := range ws {
		ws[i] = fmt.Sprintf("w%02d", i)
	}
	return ws
}

func TestTrainLMPerplexity(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		db := b.Open(t)
		ctx := storetest.Context(t)
		const vocab = 24
		trainIDs, valid := markovText(12000, vocab, 1), markovText(2400, vocab, 2)
		storeCorpus(t, db, "mk", wordList(vocab), map[string][]int32{"train": trainIDs, "valid": valid, "test": markovText(2400, vocab, 3)}, 500)
		run := &task.Run{Task: &task.Task{ID: "lm1", Kind: "train-lm", Input: "mk-train", Model: "mk-lm",
			Params: json.RawMessage(`{"layers":1,"hidden":32,"steps":10,"batch":8,"epochs":3,"decay_after":2,"validation":"mk-valid","test":"mk-test","alias":"best"}`)},
			Attempt: 1, Services: db}
		out, err := trainLM(testKinds(t).device, testKinds(t).samples)(ctx, run)
		if err != nil {
			t.Fatal(err)
		}
		var res struct {
			Model   string
			Version int64
			Metrics map[string]float64
			Words   int
		}
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatal(err)
		}
		uni := unigramPerplexity(valid)
		val := res.Metrics["val_perplexity"]
		t.Logf("validation perplexity %.3f, unigram %.3f, train %.3f", val, uni, res.Metrics["train_perplexity"])
		if !(val < uni/4) || !(val > 1.5) {
			t.Fatalf("validation perplexity %v, want well below the unigram perplexity %v (and above the text's entropy, about 2)", val, uni)
		}
		if res.Words != len(trainIDs) || res.Model != "mk-lm" {
			t.Errorf("output %s", out)
		}
		ms, err := models.New(ctx, db, models.Options{CacheDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		m, err := ms.Get(ctx, models.Ref{Name: "mk-lm", Alias: "best"})
		if err != nil {
			t.Fatal(err)
		}
		if m.Version != res.Version || m.Metrics["val_perplexity"] != val || m.Params["vocab"] != "mk/vocab" || m.Lineage.Dataset != "mk-train" {
			t.Errorf("saved version %d: metrics %v, params %v, lineage %+v", m.Version, m.Metrics, m.Params, m.Lineage)
		}
		if tp := res.Metrics["test_perplexity"]; !(tp > 1.5 && tp < uni/4) {
			t.Errorf("test perplexity %v", tp)
		}

		// The version is the model: rebuilt from its architecture and weights,
		// it gives the validation perplexity it was saved with.
		g := graph.New(9)
		net, _, err := netstore.Load(ctx, ms, models.Ref{Name: "mk-lm", Version: res.Version}, g)
		if err != nil {
			t.Fatal(err)
		}
		lm, err := lmFromNet(net, 1)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := train.NewEvaluator(train.Config{Inputs: []*graph.Node{lm.tokens, lm.targets}, Loss: lm.loss, Carry: lm.carry})
		if err != nil {
			t.Fatal(err)
		}
		defer ev.Close()
		src, err := feed.NewLanguageModel(valid, 8, 10)
		if err != nil {
			t.Fatal(err)
		}
		loader, err := feed.NewLoader(src, 8)
		if err != nil {
			t.Fatal(err)
		}
		r, err := ev.Evaluate(ctx, loader)
		if err != nil {
			t.Fatal(err)
		}
		if got := perplexity(r.Loss, 10); math.Abs(got-val) > 1e-3*val {
			t.Errorf("the reloaded version's validation perplexity is %v, it was saved with %v", got, val)
		}
	})
}

func TestTextKindsClearErrors(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		db := b.Open(t)
		ctx := storetest.Context(t)
		storeCorpus(t, db, "mk", wordList(6), map[string][]int32{"train": markovText(300, 6, 1)}, 100)
		coll, err := dataset.FromStore(ctx, db, dataset.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := coll.Insert(ctx, dataset.Sample{Key: "img/0", Tensor: dataset.Uint8Tensor([]int{2, 2}, []uint8{1, 2, 3, 4}), Tags: []string{"img"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := coll.Define(ctx, "img", dataset.Query{Tags: []string{"img"}}); err != nil {
			t.Fatal(err)
		}
		k := testKinds(t)
		lm, w2v := trainLM(k.device, k.samples), trainWord2vec(k.device, k.samples)
		for _, c := range []struct {
			f      task.Func
			input  string
			params string
			want   string
		}{
			{lm, "nope", `{}`, `dataset "nope" not found`},
			{lm, "img", `{}`, `sample "img/0" is not a window of a token corpus`},
			{lm, "mk-train", `{"preset":"large"}`, `preset "large"`},
			{lm, "mk-train", `{"keep_prob":1.5}`, "keep_prob 1.5"},
			{lm, "mk-train", `{"batch":20,"steps":20}`, "make no window"},
			{lm, "mk-train", `{"batch":2,"steps":5,"validation":"nope"}`, `dataset "nope" not found`},
			{w2v, "mk-train", `{"probe":["w01","zebra"]}`, `params.probe[1] "zebra" is not in the vocabulary`},
			{w2v, "mk-train", `{"num_sampled":64}`, "num_sampled 64 is more than"},
			{w2v, "mk-train", `{"num_skips":5}`, "num_skips 5"},
		} {
			run := &task.Run{Task: &task.Task{ID: "bad", Kind: "x", Input: c.input, Model: "m", Params: json.RawMessage(c.params)}, Services: db}
			_, err := c.f(ctx, run)
			if err == nil || !strings.Contains(err.Error(), c.want) || !task.IsPermanent(err) {
				t.Errorf("input %s, params %s: error %v (permanent %v), want a permanent one containing %q", c.input, c.params, err, task.IsPermanent(err), c.want)
			}
		}
		// Nothing was saved.
		ms, err := models.New(ctx, db, models.Options{CacheDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		if ls, err := ms.Names(ctx); err != nil || len(ls) != 0 {
			t.Errorf("models after bad tasks: %v %v", ls, err)
		}
	})
}

// groupsText is a text of clauses of 8 words, each clause drawn from one of
// groups groups of size words: words co-occur only with their group's.
func groupsText(n, groups, size int, seed uint64) []int32 {
	rng := tensor.NewRand(seed)
	ids := make([]int32, 0, n)
	for len(ids) < n {
		g := rng.IntN(groups)
		for range 8 {
			ids = append(ids, int32(g*size+rng.IntN(size)))
		}
	}
	return ids[:n]
}

func TestWord2vecNeighbours(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		db := b.Open(t)
		ctx := storetest.Context(t)
		const groups, size = 6, 4
		storeCorpus(t, db, "grp", wordList(groups*size), map[string][]int32{"train": groupsText(20000, groups, size, 1)}, 1000)
		run := &task.Run{Task: &task.Task{ID: "w1", Kind: "word2vec", Input: "grp-train", Model: "grp-w2v",
			Params: json.RawMessage(`{"dim":16,"batch":64,"skip_window":2,"num_skips":4,"num_sampled":8,"epochs":1,"probe":["w00","w13"],"neighbours":3}`)},
			Attempt: 1, Services: db}
		out, err := trainWord2vec(testKinds(t).device, testKinds(t).samples)(ctx, run)
		if err != nil {
			t.Fatal(err)
		}
		var res struct {
			Version    int64
			Metrics    map[string]float64
			Neighbours map[string][]string
		}
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatal(err)
		}
		t.Logf("neighbours %v, metrics %v", res.Neighbours, res.Metrics)
		for word, want := range map[string][]string{"w00": {"w01", "w02", "w03"}, "w13": {"w12", "w14", "w15"}} {
			got := slices.Sorted(slices.Values(res.Neighbours[word]))
			if !slices.Equal(got, want) {
				t.Errorf("neighbours of %s: %v, want its group %v", word, res.Neighbours[word], want)
			}
		}
		if _, ok := res.Metrics["train_loss"]; !ok {
			t.Errorf("output %s has no train_loss metric", out)
		}
		ms, err := models.New(ctx, db, models.Options{CacheDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		m, err := ms.Get(ctx, models.Ref{Name: "grp-w2v"})
		if err != nil || m.Version != res.Version || m.Params["vocab"] != "grp/vocab" {
			t.Errorf("saved version: %+v %v", m, err)
		}
	})
}

// nearest ranks by cosine similarity, not by length.
func TestNearest(t *testing.T) {
	emb, err := tensor.FromFloat32([]float32{1, 0, 10, 1, 0, 1, 0.5, 0.01}, 4, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := nearest(emb, 0, 2); !slices.Equal(got, []int{3, 1}) {
		t.Errorf("nearest to row 0: %v, want [3 1]", got)
	}
}

// The example plans name kinds this package registers, with parameters they
// take: the master would accept them as written.
func TestExamplePlans(t *testing.T) {
	r := task.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	testworld.CheckPlans(t, "../examples/plans/*.yaml", 3, r, func(f string, b []byte, _ *plan.Spec) {
		if !strings.Contains(string(b), "# First import") || !strings.Contains(string(b), "tl import ") || !strings.Contains(string(b), "What to expect") {
			t.Errorf("%s: the header does not say what to import first and what to expect", f)
		}
	})
}

// The medium preset's form (dropout on the embedding and every LSTM output,
// two layers) builds, and its architecture travels as JSON: rebuilt, it has
// the same loss and carried state.
func TestLMArchitectureRoundTrip(t *testing.T) {
	p := LMParams{Preset: "medium", Hidden: 8, Steps: 3, Batch: 2}
	if err := p.resolve(); err != nil {
		t.Fatal(err)
	}
	if p.KeepProb != 0.5 || p.Layers != 2 || p.LRDecay != 0.8 || p.Epochs != 39 || p.Hidden != 8 {
		t.Fatalf("medium preset resolved to %+v", p)
	}
	n, err := newLM(graph.New(1), p, 11)
	if err != nil {
		t.Fatal(err)
	}
	if len(n.carry) != 4 {
		t.Fatalf("%d carried states, want h and c of 2 layers", len(n.carry))
	}
	arch, err := n.logits.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(arch), "Dropout") || !strings.Contains(string(arch), `"output_keep":0.5`) {
		t.Errorf("architecture without the dropouts: %s", arch)
	}
	net, err := layers.FromJSON(graph.New(2), arch)
	if err != nil {
		t.Fatal(err)
	}
	m, err := lmFromNet(net, 2)
	if err != nil || len(m.carry) != 4 || m.loss.Shape().Size() != 1 {
		t.Fatalf("rebuilt: %v, %d carried", err, len(m.carry))
	}
	if _, err := lmFromNet(net, 3); err == nil || !strings.Contains(err.Error(), "lstm3") {
		t.Errorf("a third layer that is not there: %v", err)
	}
}

// On the cuda queue (a GPU, or the CPU emulator) train-lm learns with its
// state carried on the device, and word2vec finds the same groups.
func TestTextKindsOnDevice(t *testing.T) {
	dev := cudatest.Open(t)
	reg := task.NewRegistry()
	if err := RegisterWith(reg, Options{OpenDevice: func() (graph.Device, error) { return dev, nil }, CacheDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		db := b.Open(t)
		ctx := storetest.Context(t)
		const vocab = 24
		storeCorpus(t, db, "mk", wordList(vocab), map[string][]int32{"train": markovText(6000, vocab, 1), "valid": markovText(1200, vocab, 2)}, 500)
		storeCorpus(t, db, "grp", wordList(24), map[string][]int32{"train": groupsText(20000, 6, 4, 1)}, 1000)
		lm, err := reg.Lookup("train-lm")
		if err != nil {
			t.Fatal(err)
		}
		out, err := lm(ctx, &task.Run{Task: &task.Task{ID: "g1", Kind: "train-lm", Queue: GPUQueue, Input: "mk-train", Model: "mk-lm",
			Params: json.RawMessage(`{"layers":1,"hidden":32,"steps":10,"batch":8,"epochs":3,"validation":"mk-valid"}`)}, Attempt: 1, Services: db})
		if err != nil {
			t.Fatal(err)
		}
		var res struct{ Metrics map[string]float64 }
		if err := json.Unmarshal(out, &res); err != nil || !(res.Metrics["val_perplexity"] < 4) {
			t.Fatalf("train-lm on %s: %s (%v): want a validation perplexity under 4 (unigram about 21)", dev.Name(), out, err)
		}
		w2v, err := reg.Lookup("word2vec")
		if err != nil {
			t.Fatal(err)
		}
		out, err = w2v(ctx, &task.Run{Task: &task.Task{ID: "g2", Kind: "word2vec", Queue: GPUQueue, Input: "grp-train", Model: "grp-w2v",
			Params: json.RawMessage(`{"dim":16,"batch":64,"skip_window":2,"num_skips":4,"num_sampled":8,"probe":["w00"],"neighbours":3}`)}, Attempt: 1, Services: db})
		if err != nil {
			t.Fatal(err)
		}
		var wr struct{ Neighbours map[string][]string }
		if err := json.Unmarshal(out, &wr); err != nil || !slices.Equal(slices.Sorted(slices.Values(wr.Neighbours["w00"])), []string{"w01", "w02", "w03"}) {
			t.Fatalf("word2vec on %s: %s (%v): want w00's group", dev.Name(), out, err)
		}
	})
}

// The stream from the store yields the batches feed.LanguageModel cuts from
// the whole text in memory, whatever the window size and the order the
// windows were inserted in, with a limit too.
func TestTokenStreamMatchesLanguageModel(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		db := b.Open(t)
		ctx := storetest.Context(t)
		ids := markovText(1003, 50, 4)
		storeCorpus(t, db, "in-order", wordList(50), map[string][]int32{"train": ids}, 7)
		// The same text, its windows inserted in reverse: sequence order
		// is not text order.
		coll, err := dataset.FromStore(ctx, db, dataset.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var rev []dataset.Sample
		for i, off := 0, 0; off < len(ids); i, off = i+1, off+13 {
			end := min(off+13, len(ids))
			rev = append(rev, dataset.Sample{Key: fmt.Sprintf("rev/train/%06d", i), Tensor: dataset.Int32Tensor([]int{end - off}, ids[off:end]),
				Tags: []string{"train"}, Fields: map[string]any{"offset": off, "vocab": "in-order/vocab"}})
		}
		slices.Reverse(rev)
		if _, err := coll.Insert(ctx, rev...); err != nil {
			t.Fatal(err)
		}
		if _, err := coll.Define(ctx, "rev-train", dataset.Query{Tags: []string{"train"}, KeyPrefix: "rev/"}); err != nil {
			t.Fatal(err)
		}
		samples, err := testKinds(t).samples(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			view                string
			batch, steps, limit int
		}{{"in-order-train", 4, 5, 0}, {"in-order-train", 3, 20, 0}, {"rev-train", 4, 5, 0}, {"rev-train", 6, 3, 500}} {
			c, err := openCorpus(ctx, samples, tc.view)
			if err != nil {
				t.Fatal(err)
			}
			s, err := newTokenStream(c, tc.batch, tc.steps, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			text := ids
			if tc.limit > 0 {
				text = ids[:tc.limit]
			}
			src, err := feed.NewLanguageModel(text, tc.batch, tc.steps)
			if err != nil {
				t.Fatal(err)
			}
			loader, err := feed.NewLoader(src, tc.batch)
			if err != nil {
				t.Fatal(err)
			}
			if s.Batches() != loader.Batches() {
				t.Fatalf("%+v: %d batches streamed, %d in memory", tc, s.Batches(), loader.Batches())
			}
			for e := range 2 { // a second epoch reads again
				got, want := s.Epoch(ctx, e), loader.Epoch(ctx, e)
				n := 0
				for want.Next() {
					if !got.Next() {
						t.Fatalf("%+v epoch %d: the stream ended after %d batches: %v", tc, e, n, got.Err())
					}
					for k := range 2 {
						if g, w := got.Batch().Tensors[k].Int32s(), want.Batch().Tensors[k].Int32s(); !slices.Equal(g, w) {
							t.Fatalf("%+v epoch %d batch %d tensor %d: %v, want %v", tc, e, n, k, g, w)
						}
					}
					n++
				}
				if got.Next() || got.Err() != nil {
					t.Fatalf("%+v: the stream goes on after %d batches, or failed: %v", tc, n, got.Err())
				}
				got.Close()
				want.Close()
			}
			all, err := c.IDs(ctx, tc.limit)
			if err != nil || !slices.Equal(all, text) {
				t.Fatalf("%+v: IDs %v (%v)", tc, len(all), err)
			}
		}
	})
}

// BenchmarkTokenStream reads epochs of a 200,000-word view from the store in
// ptb_producer order (batch 20, 20 steps, as ptb_word_lm "small"): the cost
// of a batch, to set against the training step it feeds.
func BenchmarkTokenStream(b *testing.B) {
	storetest.RunBench(b, func(b *testing.B, be storetest.Backend) {
		db := be.Open(b)
		ctx := context.Background()
		coll, err := dataset.FromStore(ctx, db, dataset.Options{})
		if err != nil {
			b.Fatal(err)
		}
		ids := markovText(200000, 10000, 1)
		var ss []dataset.Sample
		for i, off := 0, 0; off < len(ids); i, off = i+1, off+2048 {
			end := min(off+2048, len(ids))
			ss = append(ss, dataset.Sample{Key: fmt.Sprintf("big/train/%06d", i), Tensor: dataset.Int32Tensor([]int{end - off}, ids[off:end]),
				Tags: []string{"train"}, Fields: map[string]any{"offset": off, "vocab": "big/vocab"}})
		}
		var vocab strings.Builder
		for _, w := range wordList(10000) {
			vocab.WriteString(w + "\t1\n")
		}
		ss = append(ss, dataset.Sample{Key: "big/vocab", Bytes: []byte(vocab.String()), Tags: []string{"vocab"}})
		if _, err := coll.Insert(ctx, ss...); err != nil {
			b.Fatal(err)
		}
		if _, err := coll.Define(ctx, "big-train", dataset.Query{Tags: []string{"train"}, KeyPrefix: "big/"}); err != nil {
			b.Fatal(err)
		}
		samples, err := testKinds(b).samples(ctx, db)
		if err != nil {
			b.Fatal(err)
		}
		c, err := openCorpus(ctx, samples, "big-train")
		if err != nil {
			b.Fatal(err)
		}
		s, err := newTokenStream(c, 20, 20, 0)
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		n := 0
		for e := 0; n < b.N; e++ {
			it := s.Epoch(ctx, e)
			for n < b.N && it.Next() {
				n++
			}
			if err := it.Err(); err != nil {
				b.Fatal(err)
			}
			it.Close()
		}
		b.ReportMetric(float64(b.N*20*20)/b.Elapsed().Seconds(), "words/s")
	})
}
