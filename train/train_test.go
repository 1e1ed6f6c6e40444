package train

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tlgo/tl/feed"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/modelio"
	"github.com/tlgo/tl/optim"
	"github.com/tlgo/tl/tensor"
)

func TestCorrectTopK(t *testing.T) {
	logits := []float32{
		0.1, 0.7, 0.2, // argmax 1
		0.5, 0.5, 0.0, // tie between 0 and 1
		0.3, 0.2, 0.1, // label 2 is last
	}
	labels := []int32{1, 1, 2}
	if n := Correct(logits, labels, 3); n != 1 {
		t.Fatalf("Correct = %d, want 1 (a tie goes to the first class)", n)
	}
	if n := CorrectTopK(logits, labels, 3, 2); n != 2 {
		t.Fatalf("top-2 = %d, want 2", n)
	}
	if n := CorrectTopK(logits, labels, 3, 3); n != 3 {
		t.Fatalf("top-3 = %d, want 3", n)
	}
	if n := Correct(logits, []int32{5, -1, 0}, 3); n != 1 {
		t.Fatalf("labels out of range must count as wrong: %d", n)
	}
	if a := testing.AllocsPerRun(100, func() { CorrectTopK(logits, labels, 3, 2) }); a != 0 {
		t.Fatalf("CorrectTopK allocates %v times", a)
	}
}

// problem is a separable 3-class problem in 2-D (the class is the sector of the
// point) and a softmax regression over it.
type problem struct {
	g            *graph.Graph
	x, y         *graph.Node
	logits, loss *graph.Node
	opt          *optim.SGD
	update       *graph.Node
	train, test  *feed.Loader
	w, b         *graph.Node
}

func newProblem(t *testing.T, n int) *problem {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	centres := [3][2]float32{{2, 0}, {-1, 2}, {-1, -2}}
	mk := func(n int) *feed.Tensors {
		x := tensor.New(tensor.Float32, n, 2)
		y := tensor.New(tensor.Int32, n)
		for i := range n {
			c := i % 3
			x.Float32s()[2*i] = centres[c][0] + float32(rng.NormFloat64())*0.5
			x.Float32s()[2*i+1] = centres[c][1] + float32(rng.NormFloat64())*0.5
			y.Int32s()[i] = int32(c)
		}
		s, err := feed.FromTensors(x, y)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	p := &problem{g: graph.New(7)}
	p.x = p.g.Placeholder("x", tensor.Float32, -1, 2)
	p.y = p.g.Placeholder("y", tensor.Int32, -1)
	p.w = p.g.Variable("w", tensor.Zeros(), 2, 3)
	p.b = p.g.Variable("b", tensor.Zeros(), 3)
	p.logits = graph.BiasAdd(graph.MatMul(p.x, p.w), p.b)
	p.loss = graph.SparseSoftmaxCrossEntropy(p.logits, p.y)
	p.opt = optim.NewSGD(p.g, "sgd", 0.5)
	var err error
	if p.update, err = optim.Minimize(p.opt, p.loss); err != nil {
		t.Fatal(err)
	}
	if p.train, err = feed.NewLoader(mk(n), 16, feed.Shuffle(3)); err != nil {
		t.Fatal(err)
	}
	if p.test, err = feed.NewLoader(mk(n/2), 50); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *problem) config() Config {
	return Config{Inputs: []*graph.Node{p.x, p.y}, Loss: p.loss, Update: p.update, Logits: p.logits, Labels: p.y, TopK: 2, Options: graph.Options{Threads: 1}}
}

func TestLoopTrainsAndHooksRunInOrder(t *testing.T) {
	p := newProblem(t, 300)
	loop, err := New(p.config())
	if err != nil {
		t.Fatal(err)
	}
	defer loop.Close()
	ev, err := loop.NewEvaluator()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	before, err := ev.Evaluate(context.Background(), p.test)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	rec := func(name string) func(context.Context, *State) error {
		return func(_ context.Context, s *State) error {
			events = append(events, name)
			return nil
		}
	}
	loop.Use(Hook{Name: "rec", TrainStart: rec("train-start"), EpochStart: rec("epoch-start"), StepStart: rec("step-start"), StepEnd: rec("step-end"), EpochEnd: rec("epoch-end"), TrainEnd: rec("train-end")},
		Evaluate(ev, p.test, "val_"))
	st, err := loop.Run(context.Background(), p.train, 3)
	if err != nil {
		t.Fatal(err)
	}
	steps := 3 * p.train.Batches()
	if st.Step != steps || len(events) != 2+2*3+2*steps {
		t.Fatalf("%d steps, %d events", st.Step, len(events))
	}
	if events[0] != "train-start" || events[1] != "epoch-start" || events[2] != "step-start" || events[3] != "step-end" || events[len(events)-2] != "epoch-end" || events[len(events)-1] != "train-end" {
		t.Fatalf("event order %v ... %v", events[:4], events[len(events)-2:])
	}
	if st.Values["val_loss"] >= before.Loss || st.Values["val_accuracy"] < 0.95 || st.Values["accuracy"] < 0.9 {
		t.Fatalf("did not learn: val loss %v -> %v, values %v", before.Loss, st.Values["val_loss"], st.Values)
	}
	if st.Values["top2_accuracy"] < st.Values["accuracy"] {
		t.Fatalf("top-2 %v below top-1 %v", st.Values["top2_accuracy"], st.Values["accuracy"])
	}
	after, _ := ev.Evaluate(context.Background(), p.test)
	if after.Examples != 150 || after.Accuracy != st.Values["val_accuracy"] {
		t.Fatalf("evaluation: %+v vs %v", after, st.Values)
	}
}

func TestLoopStopsAndReportsHookErrors(t *testing.T) {
	p := newProblem(t, 64)
	loop, _ := New(p.config())
	defer loop.Close()
	loop.Use(Hook{Name: "stopper", StepEnd: func(_ context.Context, s *State) error {
		if s.Step == 5 {
			return ErrStop
		}
		return nil
	}})
	st, err := loop.Run(context.Background(), p.train, 10)
	if err != nil || !st.Stopped || st.Step != 5 {
		t.Fatalf("ErrStop: err %v, stopped %v, step %d", err, st.Stopped, st.Step)
	}
	boom := errors.New("boom")
	loop2, _ := New(p.config())
	defer loop2.Close()
	loop2.Use(Hook{Name: "bomb", EpochEnd: func(context.Context, *State) error { return boom }})
	if _, err := loop2.Run(context.Background(), p.train, 2); !errors.Is(err, boom) || !strings.Contains(err.Error(), `"bomb" at EpochEnd (epoch 0`) {
		t.Fatalf("hook error: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	loop3, _ := New(p.config())
	defer loop3.Close()
	loop3.Use(Hook{StepEnd: func(context.Context, *State) error { cancel(); return nil }})
	if _, err := loop3.Run(ctx, p.train, 2); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestLoopDetectsDivergence(t *testing.T) {
	p := newProblem(t, 64)
	p.w.Tensor().Fill(float32(1e38))
	optim.SetLearningRate(p.opt, 1e30)
	loop, _ := New(p.config())
	defer loop.Close()
	if _, err := loop.Run(context.Background(), p.train, 3); !errors.Is(err, ErrDiverged) {
		t.Fatalf("got %v, want ErrDiverged", err)
	}
}

func TestConfigErrors(t *testing.T) {
	p := newProblem(t, 30)
	bad := []Config{
		{},
		{Inputs: []*graph.Node{p.x, p.y}, Loss: p.loss},
		{Inputs: []*graph.Node{p.x, p.y}, Loss: p.loss, Update: p.update, Logits: p.logits},
		{Inputs: []*graph.Node{p.x}, Loss: p.loss, Update: p.update, Logits: p.logits, Labels: p.y},
	}
	for i, c := range bad {
		if l, err := New(c); err == nil {
			l.Close()
			t.Errorf("config %d: want an error", i)
		}
	}
}

func TestLoopAllocatesNothingPerStep(t *testing.T) {
	p := newProblem(t, 16*500)
	cfg := p.config()
	loop, _ := New(cfg)
	defer loop.Close()
	ctx := context.Background()
	loop.Run(ctx, p.train, 1) // compile
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	if _, err := loop.Run(ctx, p.train, 1); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&b)
	if n := b.Mallocs - a.Mallocs; n > 200 {
		t.Fatalf("an epoch of 500 steps made %d allocations, want a constant few", n)
	}
}

func TestScheduleEarlyStoppingCheckpointLogger(t *testing.T) {
	p := newProblem(t, 64)
	loop, _ := New(p.config())
	defer loop.Close()
	dir := t.TempDir()
	var lrs []float64
	var logBuf bytes.Buffer
	constant := Hook{Name: "constant", EpochEnd: func(_ context.Context, s *State) error {
		s.Values["flat"] = 1
		return nil
	}}
	loop.Use(
		LearningRate(p.opt, optim.StepDecay{Base: 0.4, Every: 4, Factor: 0.5}),
		Hook{Name: "lr-spy", StepEnd: func(_ context.Context, s *State) error { lrs = append(lrs, s.Values["lr"]); return nil }},
		constant,
		EarlyStopping("flat", true, 2, 0),
		Checkpoint(dir, p.g.Variables(), 1, 2),
		Logger(slog.New(slog.NewTextHandler(&logBuf, nil)), 0),
	)
	st, err := loop.Run(context.Background(), p.train, 10)
	if err != nil {
		t.Fatal(err)
	}
	// Epoch 1 sets the best, epochs 2 and 3 do not improve: stop after 3.
	if !st.Stopped || st.Epoch != 2 {
		t.Fatalf("early stopping: stopped %v at epoch %d", st.Stopped, st.Epoch)
	}
	if float32(lrs[0]) != 0.4 || float32(lrs[3]) != 0.4 || float32(lrs[4]) != 0.2 || float32(lrs[8]) != 0.1 {
		t.Fatalf("learning rates %v", lrs[:9])
	}
	files, err := Checkpoints(dir)
	if err != nil || len(files) != 2 || filepath.Base(files[1]) != "ckpt-000003.safetensors" {
		t.Fatalf("checkpoints %v %v", files, err)
	}
	// The newest checkpoint holds the trained weights.
	g2 := newProblem(t, 30).g
	meta, err := modelio.LoadWeights(context.Background(), files[1], g2.Variables())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(g2.VariableByName("w").Tensor().Float32s(), p.w.Tensor().Float32s()) || meta["epoch"] != "3" {
		t.Fatalf("checkpoint differs from the weights; metadata %v", meta)
	}
	if n := strings.Count(logBuf.String(), "msg=epoch"); n != 3 || !strings.Contains(logBuf.String(), "accuracy=") {
		t.Fatalf("log has %d epoch lines:\n%s", n, logBuf.String())
	}
}

func TestEarlyStoppingNeedsItsMetric(t *testing.T) {
	p := newProblem(t, 32)
	loop, _ := New(p.config())
	defer loop.Close()
	loop.Use(EarlyStopping("val_loss", true, 1, 0))
	if _, err := loop.Run(context.Background(), p.train, 1); err == nil || !strings.Contains(err.Error(), `no metric "val_loss"`) {
		t.Fatalf("got %v", err)
	}
}

func TestBar(t *testing.T) {
	got := Bar("epoch 2/10", 30000, 60000, "samples", 10*time.Second, 100)
	want := "epoch 2/10 [===============>              ] 30000/60000  50% 3000 samples/s ETA 0:10"
	if got != want {
		t.Fatalf("\n got %q\nwant %q", got, want)
	}
	if got := Bar("", 5, 0, "items", 2*time.Second, 80); got != "5 2 items/s 0:02" {
		t.Fatalf("unknown total: %q", got)
	}
	if got := Bar("x", 1, 3, "it", 0, 20); strings.Contains(got, "[") || !strings.Contains(got, "ETA ?") {
		t.Fatalf("narrow, no time yet: %q", got)
	}
	if clock(3725*time.Second) != "1:02:05" {
		t.Fatal(clock(3725 * time.Second))
	}
}

func TestProgressIsQuietOffTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := NewProgress(f, "x", 10, "it")
	if p.Enabled() {
		t.Fatal("a regular file is not a terminal")
	}
	p.Add(5, func() string { t.Fatal("quiet bars must not format"); return "" })
	p.Finish("done")
	if st, _ := f.Stat(); st.Size() != 0 {
		t.Fatalf("wrote %d bytes to a non-terminal", st.Size())
	}
	var buf bytes.Buffer
	on := newProgress(&buf, true, "x", 10, "it", 80)
	on.Add(10, func() string { return "loss 1" })
	on.Finish("")
	if s := buf.String(); !strings.HasPrefix(s, "\rx [") || !strings.Contains(s, "10/10") || !strings.HasSuffix(s, "loss 1\x1b[K\n") {
		t.Fatalf("drawn %q", s)
	}
}

// Top-5 accuracy of a batch of 128 rows of 1000 classes (ImageNet-sized logits).
func BenchmarkCorrectTopK(b *testing.B) {
	const n, c = 128, 1000
	logits := make([]float32, n*c)
	labels := make([]int32, n)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range logits {
		logits[i] = rng.Float32()
	}
	for i := range labels {
		labels[i] = int32(rng.IntN(c))
	}
	b.ReportAllocs()
	for b.Loop() {
		CorrectTopK(logits, labels, c, 5)
	}
}

// A run stopped after 2 epochs and resumed from its checkpoint ends with the
// same weights as a run of 4 epochs straight through.
func TestRunFromCheckpointMatchesAnUninterruptedRun(t *testing.T) {
	ctx := context.Background()
	straight := newProblem(t, 96)
	loop, _ := New(straight.config())
	defer loop.Close()
	loop.Use(LearningRate(straight.opt, optim.ExponentialDecay{Base: 0.5, Rate: 0.5, Steps: 6}))
	if _, err := loop.Run(ctx, straight.train, 4); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	first := newProblem(t, 96)
	loop1, _ := New(first.config())
	defer loop1.Close()
	loop1.Use(LearningRate(first.opt, optim.ExponentialDecay{Base: 0.5, Rate: 0.5, Steps: 6}), Checkpoint(dir, first.g.Variables(), 1, 1))
	if _, err := loop1.Run(ctx, first.train, 2); err != nil {
		t.Fatal(err)
	}
	resumed := newProblem(t, 96)
	files, _ := Checkpoints(dir)
	if _, err := modelio.LoadWeights(ctx, files[0], resumed.g.Variables()); err != nil {
		t.Fatal(err)
	}
	loop2, _ := New(resumed.config())
	defer loop2.Close()
	loop2.Use(LearningRate(resumed.opt, optim.ExponentialDecay{Base: 0.5, Rate: 0.5, Steps: 6}))
	st, err := loop2.RunFrom(ctx, resumed.train, 2, 4)
	if err != nil {
		t.Fatal(err)
	}
	if st.Step != 4*resumed.train.Batches() {
		t.Fatalf("resumed run ends at step %d", st.Step)
	}
	if !slices.Equal(resumed.w.Tensor().Float32s(), straight.w.Tensor().Float32s()) {
		t.Fatalf("resumed weights %v, straight %v", resumed.w.Tensor().Float32s(), straight.w.Tensor().Float32s())
	}
}

func TestSaveBestKeepsTheBestEpoch(t *testing.T) {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 2)
	net := layers.Dense(x, "fc", 3)
	y := g.Placeholder("y", tensor.Int32, -1)
	loss := graph.SparseSoftmaxCrossEntropy(net.Output(), y)
	step, err := optim.Minimize(optim.NewSGD(g, "sgd", 0.1), loss)
	if err != nil {
		t.Fatal(err)
	}
	p := newProblem(t, 32)
	loop, err := New(Config{Inputs: []*graph.Node{x.Output(), y}, Loss: loss, Update: step, Options: graph.Options{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer loop.Close()
	dir := filepath.Join(t.TempDir(), "best")
	scores := []float64{0.5, 0.7, 0.6, 0.65}
	var bestW []float32
	loop.Use(
		Hook{Name: "score", EpochEnd: func(_ context.Context, s *State) error {
			s.Values["score"] = scores[s.Epoch]
			if s.Epoch == 1 {
				bestW = slices.Clone(g.VariableByName("fc/W").Tensor().Float32s())
			}
			return nil
		}},
		SaveBest(dir, net, "score", false),
	)
	if _, err := loop.Run(context.Background(), p.train, 4); err != nil {
		t.Fatal(err)
	}
	back, meta, err := modelio.Load(context.Background(), dir, graph.New(2))
	if err != nil {
		t.Fatal(err)
	}
	if meta["epoch"] != "2" || meta["score"] != "0.7" {
		t.Fatalf("saved metadata %v, want epoch 2 with score 0.7", meta)
	}
	if got := back.Find("fc").Params()[0].Tensor().Float32s(); !slices.Equal(got, bestW) {
		t.Fatalf("saved weights are not epoch 2's")
	}
}

// Config.Metrics are averaged over the examples as the loss is: the loss
// node reported a second time under another name has the loss's values, in
// the loop and in an evaluator; a metric that is not a scalar, or that
// takes a reserved name, is refused.
func TestConfigMetrics(t *testing.T) {
	p := newProblem(t, 90) // 90 examples in batches of 16: a partial batch
	cfg := p.config()
	cfg.Metrics = []Metric{{Name: "xent", Node: p.loss}}
	loop, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer loop.Close()
	st, err := loop.Run(context.Background(), p.train, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := st.Values["xent"], st.Values[MetricLoss]; want == 0 || math.Abs(got-want) > 1e-9 {
		t.Fatalf("metric xent %v, loss %v: want equal", got, want)
	}
	ev, err := loop.NewEvaluator()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	r, err := ev.Evaluate(context.Background(), p.test)
	if err != nil {
		t.Fatal(err)
	}
	if v := r.Values("val_"); math.Abs(v["val_xent"]-r.Loss) > 1e-9 || len(v) != 4 {
		t.Fatalf("evaluation values %v: want val_xent equal to val_loss %v, beside val_accuracy and val_top2_accuracy", v, r.Loss)
	}
	for name, m := range map[string]Metric{
		"not a scalar": {Name: "out", Node: p.logits},
		"loss":         {Name: MetricLoss, Node: p.loss},
		"no node":      {Name: "mae"},
	} {
		c := p.config()
		c.Metrics = []Metric{m}
		if l, err := New(c); err == nil {
			l.Close()
			t.Errorf("%s: accepted", name)
		}
	}
}
