package layers_test

import (
	"math"
	"strings"
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
)

func softplus(v float64) float64 { return math.Log1p(math.Exp(v)) }

func TestWord2vec(t *testing.T) {
	const vocab, dim, numSampled = 12, 3, 4
	g := graph.New(1)
	ids := layers.IntInput(g, "ids", -1)
	labels := layers.IntInput(g, "labels", -1)
	w2v := layers.Word2vecEmbedding(ids, labels, "w2v", vocab, dim, numSampled)
	wantShape(t, w2v, -1, dim)
	names := []string{"w2v/embeddings", "w2v/nce_W", "w2v/nce_b"}
	for i, p := range w2v.Params() {
		if p.Name() != names[i] {
			t.Fatalf("param %d = %s, want %s", i, p.Name(), names[i])
		}
	}
	loss, sampled := w2v.Aux("nce_loss"), w2v.Aux("sampled")
	if loss == nil || sampled == nil || len(w2v.AuxNames()) != 2 {
		t.Fatalf("aux nodes %v", w2v.AuxNames())
	}
	// Nonzero biases so that they matter.
	setParam(t, w2v, "w2v/nce_b", 0.1, -0.2, 0.3, 0, 0.05, -0.1, 0.2, 0.1, -0.3, 0, 0.15, 0.25)
	params := w2v.Trainable()
	grads, err := graph.Gradients(loss, params...)
	if err != nil {
		t.Fatal(err)
	}
	targets := []*graph.Node{loss, sampled}
	for _, gr := range grads {
		targets = append(targets, graph.Densify(gr))
	}
	e, err := g.NewExecutor(graph.Options{Training: true, Threads: 1}, targets...)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	idv, labv := []int32{3, 0, 7}, []int32{5, 2, 7}
	out, err := e.Run(graph.Feed{Node: ids.Output(), Value: ints(idv, 3)}, graph.Feed{Node: labels.Output(), Value: ints(labv, 3)})
	if err != nil {
		t.Fatal(err)
	}
	smp := append([]int32(nil), out[1].Int32s()...)
	emb, w, b := params[0].Tensor().Float32s(), params[1].Tensor().Float32s(), params[2].Tensor().Float32s()
	// The loss by hand (TensorFlow's nce_loss), in float64.
	manual := func() float64 {
		logit := func(row int, k int32) float64 {
			v := float64(b[k]) - math.Log(numSampled*graph.LogUniformProb(int(k), vocab))
			for d := 0; d < dim; d++ {
				v += float64(emb[int(idv[row])*dim+d]) * float64(w[int(k)*dim+d])
			}
			return v
		}
		total := 0.0
		for r := range idv {
			total += softplus(-logit(r, labv[r]))
			for _, s := range smp {
				total += softplus(logit(r, s))
			}
		}
		return total / float64(len(idv))
	}
	if got, want := float64(out[0].Float32s()[0]), manual(); math.Abs(got-want) > 1e-4*math.Max(1, math.Abs(want)) {
		t.Fatalf("nce loss %g, by hand %g", got, want)
	}
	for k, data := range [][]float32{emb, w, b} {
		an := out[2+k].Float32s()
		for j := range data {
			orig := data[j]
			data[j] = orig + 1e-3
			up := manual()
			data[j] = orig - 1e-3
			down := manual()
			data[j] = orig
			num := (up - down) / 2e-3
			if d := math.Abs(num - float64(an[j])); d > 1e-3+1e-2*math.Abs(num) {
				t.Fatalf("gradient of %s[%d]: analytic %g, numeric %g", names[k], j, an[j], num)
			}
		}
	}
	// The embedding output is a lookup.
	got := run(t, w2v, false, feed{ids, ints([]int32{7}, 1)}, feed{labels, ints([]int32{1}, 1)})
	near(t, "word2vec embedding", got, emb[7*dim:8*dim], 0)
	net2 := roundTrip(t, w2v, []feed{{ids, ints([]int32{1, 2}, 2)}, {labels, ints([]int32{3, 4}, 2)}})
	if net2.Aux("nce_loss") == nil {
		t.Fatal("rebuilt word2vec has no loss")
	}
	// A second word2vec layer of the same name shares the tables.
	again := layers.Word2vecEmbedding(layers.IntInput(g, "ids2", -1), layers.IntInput(g, "labels2", -1), "w2v", vocab, dim, numSampled)
	for i, p := range again.Params() {
		if p != w2v.Params()[i] {
			t.Fatalf("parameter %s not shared", p.Name())
		}
	}
	if l := layers.Word2vecEmbedding(ids, labels, "w2v2", vocab, dim, 2); l.Err() != nil {
		t.Fatal(l.Err())
	}
	if l := layers.Word2vecEmbedding(labels, layers.Input(g, "f", -1), "bad", vocab, dim, 2); l.Err() == nil {
		t.Fatal("float labels: no error")
	}
}

// With UniqueSampling the layer draws distinct negatives, counts the draws, and
// uses TensorFlow's expected counts for them; the option survives JSON.
func TestWord2vecUniqueSampling(t *testing.T) {
	const vocab, dim, numSampled = 12, 3, 5
	g := graph.New(2)
	ids := layers.IntInput(g, "ids", -1)
	labels := layers.IntInput(g, "labels", -1)
	w2v := layers.Word2vecEmbedding(ids, labels, "w2v", vocab, dim, numSampled, layers.UniqueSampling())
	if err := w2v.Err(); err != nil {
		t.Fatal(err)
	}
	loss, sampled, tries := w2v.Aux("nce_loss"), w2v.Aux("sampled"), w2v.Aux("tries")
	if tries == nil {
		t.Fatalf("aux nodes %v: want tries", w2v.AuxNames())
	}
	e, err := g.NewExecutor(graph.Options{Training: true, Threads: 1}, loss, sampled, tries)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	idv, labv := []int32{3, 0, 7}, []int32{5, 2, 7}
	out, err := e.Run(graph.Feed{Node: ids.Output(), Value: ints(idv, 3)}, graph.Feed{Node: labels.Output(), Value: ints(labv, 3)})
	if err != nil {
		t.Fatal(err)
	}
	smp, n := out[1].Int32s(), int(out[2].Int32s()[0])
	seen := map[int32]bool{}
	for _, k := range smp {
		if seen[k] {
			t.Fatalf("sampled %v has a repeat", smp)
		}
		seen[k] = true
	}
	params := w2v.Trainable()
	emb, w, b := params[0].Tensor().Float32s(), params[1].Tensor().Float32s(), params[2].Tensor().Float32s()
	logit := func(row int, k int32) float64 {
		q := 1 - math.Pow(1-graph.LogUniformProb(int(k), vocab), float64(n))
		v := float64(b[k]) - math.Log(q)
		for d := 0; d < dim; d++ {
			v += float64(emb[int(idv[row])*dim+d]) * float64(w[int(k)*dim+d])
		}
		return v
	}
	want := 0.0
	for r := range idv {
		want += softplus(-logit(r, labv[r]))
		for _, s := range smp {
			want += softplus(logit(r, s))
		}
	}
	want /= float64(len(idv))
	if got := float64(out[0].Float32s()[0]); math.Abs(got-want) > 1e-4*math.Max(1, want) {
		t.Fatalf("loss %g, by hand %g (%d draws)", got, want, n)
	}
	js, err := w2v.MarshalJSON()
	if err != nil || !strings.Contains(string(js), `"unique":true`) {
		t.Fatalf("JSON %s (%v): want unique", js, err)
	}
	if l := layers.Word2vecEmbedding(ids, labels, "too_many", 4, 2, 5, layers.UniqueSampling()); l.Err() == nil {
		t.Error("5 distinct negatives from a vocabulary of 4 was accepted")
	}
}
