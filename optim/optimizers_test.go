package optim_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/optim"
	"github.com/tlgo/tl/tensor"
)

// ref is an optimizer's update in float64: step t (1-based), weights, gradient,
// slots, all updated in place.
type ref func(t int, w, g []float64, s [][]float64)

type optCase struct {
	name  string
	make  func(g *graph.Graph) optim.Optimizer
	slots []float64 // initial slot values
	ref   ref
}

func optCases() []optCase {
	const lr = 0.1
	return []optCase{
		{"sgd", func(g *graph.Graph) optim.Optimizer { return optim.NewSGD(g, "opt", lr) }, nil,
			func(_ int, w, g []float64, _ [][]float64) {
				for i := range w {
					w[i] -= lr * g[i]
				}
			}},
		{"momentum", func(g *graph.Graph) optim.Optimizer { return optim.NewMomentum(g, "opt", lr, 0.9, false) }, []float64{0},
			func(_ int, w, g []float64, s [][]float64) {
				for i := range w {
					s[0][i] = 0.9*s[0][i] + g[i]
					w[i] -= lr * s[0][i]
				}
			}},
		{"nesterov", func(g *graph.Graph) optim.Optimizer { return optim.NewMomentum(g, "opt", lr, 0.9, true) }, []float64{0},
			func(_ int, w, g []float64, s [][]float64) {
				for i := range w {
					s[0][i] = 0.9*s[0][i] + g[i]
					w[i] -= lr * (g[i] + 0.9*s[0][i])
				}
			}},
		{"adam", func(g *graph.Graph) optim.Optimizer { return optim.NewAdam(g, "opt", lr, 0.9, 0.999, 1e-8) }, []float64{0, 0},
			func(t int, w, g []float64, s [][]float64) {
				lrt := lr * math.Sqrt(1-math.Pow(0.999, float64(t))) / (1 - math.Pow(0.9, float64(t)))
				for i := range w {
					s[0][i] = 0.9*s[0][i] + 0.1*g[i]
					s[1][i] = 0.999*s[1][i] + 0.001*g[i]*g[i]
					w[i] -= lrt * s[0][i] / (math.Sqrt(s[1][i]) + 1e-8)
				}
			}},
		{"adagrad", func(g *graph.Graph) optim.Optimizer { return optim.NewAdagrad(g, "opt", lr, 0.1, 0) }, []float64{0.1},
			func(_ int, w, g []float64, s [][]float64) {
				for i := range w {
					s[0][i] += g[i] * g[i]
					w[i] -= lr * g[i] / math.Sqrt(s[0][i])
				}
			}},
		{"rmsprop", func(g *graph.Graph) optim.Optimizer { return optim.NewRMSProp(g, "opt", lr, 0.9, 0.5, 1e-10) }, []float64{1, 0},
			func(_ int, w, g []float64, s [][]float64) {
				for i := range w {
					s[0][i] = 0.9*s[0][i] + 0.1*g[i]*g[i]
					s[1][i] = 0.5*s[1][i] + lr*g[i]/math.Sqrt(s[0][i]+1e-10)
					w[i] -= s[1][i]
				}
			}},
	}
}

func vals(t *tensor.Tensor) []float64 {
	out := make([]float64, t.Size())
	for i, v := range t.Float32s() {
		out[i] = float64(v)
	}
	return out
}

// Two steps of each optimizer against the float64 reference. The loss Σ w⊙c has
// gradient c, fed at each step.
func TestOptimizersAgainstHandComputedSteps(t *testing.T) {
	grads := [][]float32{{0.5, -1, 2, 0, 0.25, -3}, {-0.5, 0.3, 1, 1e-3, -2, 1}}
	for _, oc := range optCases() {
		t.Run(oc.name, func(t *testing.T) {
			g := graph.New(1)
			w := g.Variable("w", tensor.Uniform(-1, 1), 2, 3)
			c := g.Placeholder("c", tensor.Float32, 2, 3)
			loss := graph.ReduceSum(graph.Mul(w, c))
			opt := oc.make(g)
			step, err := optim.Minimize(opt, loss)
			if err != nil {
				t.Fatal(err)
			}
			e, err := g.NewExecutor(graph.Options{}, step)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			want := vals(w.Tensor())
			slots := make([][]float64, len(oc.slots))
			for i, v := range oc.slots {
				slots[i] = make([]float64, len(want))
				for j := range slots[i] {
					slots[i][j] = v
				}
			}
			for s, gr := range grads {
				ct, _ := tensor.FromFloat32(gr, 2, 3)
				if _, err := e.Run(graph.Feed{Node: c, Value: ct}); err != nil {
					t.Fatal(err)
				}
				oc.ref(s+1, want, vals(ct), slots)
				for i, got := range w.Tensor().Float32s() {
					if math.Abs(float64(got)-want[i]) > 1e-5*math.Max(1, math.Abs(want[i])) {
						t.Fatalf("step %d: w[%d] = %v, want %v", s+1, i, got, want[i])
					}
				}
			}
			if a, ok := opt.(*optim.Adam); ok && a.Step().Tensor().Float32s()[0] != 2 {
				t.Fatalf("Adam step counter %v after 2 steps", a.Step().Tensor().Float32s()[0])
			}
		})
	}
}

// A sparse update (through Gather, with a repeated row) equals the dense update on
// the rows touched and leaves the other rows and their slots alone.
func TestSparseUpdatesMatchDense(t *testing.T) {
	idx, _ := tensor.FromInt32([]int32{1, 4, 1}, 3)
	rows := [][]float32{{0.5, -1}, {2, 0.25}, {-3, 2}}
	for _, oc := range optCases() {
		t.Run(oc.name, func(t *testing.T) {
			// Sparse: loss = Σ Gather(E, idx) ⊙ c.
			gs := graph.New(1)
			es := gs.Variable("e", tensor.Uniform(-1, 1), 6, 2)
			init := es.Tensor().Clone()
			ix := gs.Placeholder("idx", tensor.Int32, 3)
			cs := gs.Placeholder("c", tensor.Float32, 3, 2)
			ls := graph.ReduceSum(graph.Mul(graph.Gather(es, ix), cs))
			if gr, _ := graph.Gradients(ls, es); !graph.IsSparse(gr[0]) {
				t.Fatal("gradient through Gather is not sparse")
			}
			ss, err := optim.Minimize(oc.make(gs), ls)
			if err != nil {
				t.Fatal(err)
			}
			// Dense: loss = Σ E ⊙ C with C the densified gradient.
			gd := graph.New(1)
			ed := gd.Variable("e", tensor.Uniform(-1, 1), 6, 2)
			cd := gd.Placeholder("c", tensor.Float32, 6, 2)
			sd, err := optim.Minimize(oc.make(gd), graph.ReduceSum(graph.Mul(ed, cd)))
			if err != nil {
				t.Fatal(err)
			}
			xs, _ := gs.NewExecutor(graph.Options{}, ss)
			xd, _ := gd.NewExecutor(graph.Options{}, sd)
			defer xs.Close()
			defer xd.Close()
			for step := 0; step < 2; step++ {
				ct := tensor.New(tensor.Float32, 3, 2)
				dense := tensor.New(tensor.Float32, 6, 2)
				for i, r := range rows {
					for j, v := range r {
						v *= float32(step + 1)
						ct.Float32s()[i*2+j] = v
						dense.Float32s()[int(idx.Int32s()[i])*2+j] += v
					}
				}
				if _, err := xs.Run(graph.Feed{Node: ix, Value: idx}, graph.Feed{Node: cs, Value: ct}); err != nil {
					t.Fatal(err)
				}
				if _, err := xd.Run(graph.Feed{Node: cd, Value: dense}); err != nil {
					t.Fatal(err)
				}
			}
			sv, dv, iv := es.Tensor().Float32s(), ed.Tensor().Float32s(), init.Float32s()
			for row := 0; row < 6; row++ {
				for j := 0; j < 2; j++ {
					k := row*2 + j
					if row == 1 || row == 4 {
						if math.Abs(float64(sv[k]-dv[k])) > 1e-6 {
							t.Errorf("touched row %d: sparse %v, dense %v", row, sv[k], dv[k])
						}
						if sv[k] == iv[k] {
							t.Errorf("touched row %d did not move", row)
						}
					} else if sv[k] != iv[k] {
						t.Errorf("untouched row %d changed from %v to %v", row, iv[k], sv[k])
					}
				}
			}
		})
	}
}

// embeddingClassifier: an embedding (sparse gradient) and a dense layer.
func embeddingClassifier(t testing.TB, mk func(*graph.Graph) optim.Optimizer) (*graph.Executor, []graph.Feed, *graph.Node) {
	g := graph.New(5)
	ids := g.Placeholder("ids", tensor.Int32, -1)
	y := g.Placeholder("y", tensor.Int32, -1)
	emb := g.Variable("emb", tensor.Uniform(-0.5, 0.5), 16, 8)
	w := g.Variable("w", tensor.GlorotUniform(), 8, 4)
	b := g.Variable("b", tensor.Zeros(), 4)
	loss := graph.SparseSoftmaxCrossEntropy(graph.BiasAdd(graph.MatMul(graph.Gather(emb, ids), w), b), y)
	st, err := optim.MinimizeWith(mk(g), loss, optim.MinimizeOptions{ClipNorm: 5, WeightDecay: 1e-4})
	if err != nil {
		t.Fatal(err)
	}
	e, err := g.NewExecutor(graph.Options{Training: true}, st.Loss, st.Update)
	if err != nil {
		t.Fatal(err)
	}
	it := tensor.New(tensor.Int32, 32)
	yt := tensor.New(tensor.Int32, 32)
	for i := range it.Int32s() {
		it.Int32s()[i] = int32(i % 16)
		yt.Int32s()[i] = int32(i % 16 % 4)
	}
	return e, []graph.Feed{{Node: ids, Value: it}, {Node: y, Value: yt}}, loss
}

func TestOptimizersConvergeWithoutAllocating(t *testing.T) {
	lrs := map[string]float32{"sgd": 0.5, "momentum": 0.2, "nesterov": 0.2, "adam": 0.05, "adagrad": 0.5, "rmsprop": 0.02}
	for _, oc := range optCases() {
		t.Run(oc.name, func(t *testing.T) {
			e, feeds, _ := embeddingClassifier(t, func(g *graph.Graph) optim.Optimizer {
				o := oc.make(g)
				optim.SetLearningRate(o, lrs[oc.name])
				return o
			})
			defer e.Close()
			out, err := e.Run(feeds...)
			if err != nil {
				t.Fatal(err)
			}
			first := out[0].At()
			for i := 0; i < 150; i++ {
				if out, err = e.Run(feeds...); err != nil {
					t.Fatal(err)
				}
			}
			if last := out[0].At(); !(last < first/5) {
				t.Fatalf("loss %v -> %v: does not converge", first, last)
			}
			if a := testing.AllocsPerRun(20, func() { _, _ = e.Run(feeds...) }); a != 0 {
				t.Fatalf("a step allocated %v times", a)
			}
		})
	}
}

func TestMinimizeWithClipAndDecay(t *testing.T) {
	g := graph.New(1)
	w := g.Variable("w", tensor.Ones(), 2, 2)
	c := g.Const(func() *tensor.Tensor { t, _ := tensor.FromFloat32([]float32{3, 0, 0, 4}, 2, 2); return t }())
	opt := optim.NewSGD(g, "sgd", 1)
	// Gradient = c + 0.5·w = [3.5 .5 .5 4.5]; norm = √33; clipped to norm 1.
	st, err := optim.MinimizeWith(opt, graph.ReduceSum(graph.Mul(w, c)), optim.MinimizeOptions{ClipNorm: 1, WeightDecay: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	p, err := g.Compile(graph.Options{}, nil, st.GradNorm, st.Loss, st.Update)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	norm := math.Sqrt(3.5*3.5 + 0.25 + 0.25 + 4.5*4.5)
	if got := p.Outputs()[0].At(); math.Abs(got-norm) > 1e-5 {
		t.Fatalf("grad norm %v, want %v", got, norm)
	}
	if got := p.Outputs()[1].At(); math.Abs(got-(7+0.5*2)) > 1e-6 {
		t.Fatalf("loss with decay %v, want 8", got)
	}
	for i, gv := range []float64{3.5, 0.5, 0.5, 4.5} {
		want := 1 - gv/norm
		if got := float64(w.Tensor().Float32s()[i]); math.Abs(got-want) > 1e-6 {
			t.Errorf("w[%d] = %v, want %v", i, got, want)
		}
	}
}

func TestSchedules(t *testing.T) {
	cases := []struct {
		s    optim.Schedule
		step int
		want float64
	}{
		{optim.StepDecay{Base: 1, Every: 4, Factor: 0.5}, 3, 1},
		{optim.StepDecay{Base: 1, Every: 4, Factor: 0.5}, 9, 0.25},
		{optim.ExponentialDecay{Base: 2, Rate: 0.5, Steps: 10}, 5, 2 * math.Sqrt(0.5)},
		{optim.ExponentialDecay{Base: 2, Rate: 0.5, Steps: 10, Staircase: true}, 15, 1},
		{optim.CosineDecay{Base: 1, Steps: 100, Alpha: 0.1}, 0, 1},
		{optim.CosineDecay{Base: 1, Steps: 100, Alpha: 0.1}, 50, 0.55},
		{optim.CosineDecay{Base: 1, Steps: 100, Alpha: 0.1}, 500, 0.1},
	}
	for _, c := range cases {
		if got := float64(c.s.At(c.step)); math.Abs(got-c.want) > 1e-6 {
			t.Errorf("%#v at %d = %v, want %v", c.s, c.step, got, c.want)
		}
	}
	g := graph.New(1)
	opt := optim.NewAdam(g, "adam", 1, 0.9, 0.999, 1e-8)
	if lr := optim.ApplySchedule(opt, optim.StepDecay{Base: 1, Every: 1, Factor: 0.1}, 2); fmt.Sprint(opt.LearningRate().Tensor().Float32s()[0]) != fmt.Sprint(lr) || math.Abs(float64(lr)-0.01) > 1e-7 {
		t.Fatalf("ApplySchedule wrote %v, returned %v", opt.LearningRate().Tensor().Float32s()[0], lr)
	}
}

func ExampleMinimizeWith() {
	g := graph.New(1)
	x := g.Placeholder("x", tensor.Float32, -1, 4)
	y := g.Placeholder("y", tensor.Int32, -1)
	w := g.Variable("w", tensor.GlorotUniform(), 4, 3)
	loss := graph.SparseSoftmaxCrossEntropy(graph.MatMul(x, w), y)
	opt := optim.NewAdam(g, "adam", 0.01, 0.9, 0.999, 1e-8)
	st, err := optim.MinimizeWith(opt, loss, optim.MinimizeOptions{ClipNorm: 5, WeightDecay: 1e-4})
	if err != nil {
		fmt.Println(err)
		return
	}
	e, _ := g.NewExecutor(graph.Options{Training: true}, st.Loss, st.Update)
	defer e.Close()
	sched := optim.CosineDecay{Base: 0.01, Steps: 100}
	xt, _ := tensor.FromFloat32([]float32{1, 0, 0, 0, 0, 1, 0, 0}, 2, 4)
	yt, _ := tensor.FromInt32([]int32{0, 1}, 2)
	for step := 0; step < 100; step++ {
		optim.ApplySchedule(opt, sched, step) // between steps: no recompilation
		if _, err := e.Run(graph.Feed{Node: x, Value: xt}, graph.Feed{Node: y, Value: yt}); err != nil {
			fmt.Println(err)
			return
		}
	}
	fmt.Println(g.VariableByName("adam/w/m").Shape(), opt.Step().Tensor().Float32s()[0])
	// Output: (4, 3) 100
}
