package optim

import (
	"math"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/tensor"
)

// Momentum is gradient descent with momentum (TensorFlow's MomentumOptimizer):
//
//	a = momentum·a + g
//	w -= lr·a                    (or w -= lr·(g + momentum·a) with Nesterov)
//
// Its slot is the accumulator a, a state variable named name/var/momentum. Sparse
// gradients update only the rows they touch, accumulator included.
type Momentum struct {
	name     string
	lr       *graph.Node
	momentum float32
	nesterov bool
}

// NewMomentum returns a momentum optimizer for g; name distinguishes optimizers
// that share a graph.
func NewMomentum(g *graph.Graph, name string, lr, momentum float32, nesterov bool) *Momentum {
	return &Momentum{name: name, lr: learningRate(g, name, lr), momentum: momentum, nesterov: nesterov}
}

// LearningRate implements Optimizer.
func (o *Momentum) LearningRate() *graph.Node { return o.lr }

// Apply implements Optimizer.
func (o *Momentum) Apply(grads, vars []*graph.Node) (*graph.Node, error) {
	return buildUpdates(&momentumRule{mu: o.momentum, nesterov: o.nesterov}, o.name, o.lr, nil,
		[]slotSpec{{"momentum", 0}}, grads, vars)
}

type momentumRule struct {
	mu       float32
	nesterov bool
}

func (r *momentumRule) name() string                            { return "Momentum" }
func (r *momentumRule) coeffs(lr float32, _ float64) [4]float32 { return [4]float32{lr, r.mu} }
func (r *momentumRule) apply(k *[4]float32, w, g, a, _ []float32) {
	lr, mu := k[0], k[1]
	g, a = g[:len(w)], a[:len(w)]
	if r.nesterov {
		for i := range w {
			acc := mu*a[i] + g[i]
			a[i] = acc
			w[i] -= lr * (g[i] + mu*acc)
		}
		return
	}
	for i := range w {
		acc := mu*a[i] + g[i]
		a[i] = acc
		w[i] -= lr * acc
	}
}

// Adam is Kingma and Ba's optimizer as TensorFlow's AdamOptimizer computes it:
//
//	t += 1;  lr_t = lr·√(1-β₂ᵗ)/(1-β₁ᵗ)
//	m = β₁m + (1-β₁)g;  v = β₂v + (1-β₂)g²;  w -= lr_t·m/(√v + ε)
//
// Its slots are name/var/m and name/var/v; the step t is the state variable
// name/step, counted in float32 (exact up to 2²⁴ steps). Sparse gradients update
// only the rows they touch (TensorFlow's LazyAdam).
type Adam struct {
	name                string
	lr, step            *graph.Node
	beta1, beta2, epsil float32
}

// NewAdam returns an Adam optimizer (TensorFlow's defaults: lr 0.001, beta1 0.9,
// beta2 0.999, epsilon 1e-8).
func NewAdam(g *graph.Graph, name string, lr, beta1, beta2, epsilon float32) *Adam {
	return &Adam{name: name, lr: learningRate(g, name, lr), step: g.State(name+"/step", tensor.Zeros()),
		beta1: beta1, beta2: beta2, epsil: epsilon}
}

// LearningRate implements Optimizer.
func (o *Adam) LearningRate() *graph.Node { return o.lr }

// Step is the state variable counting the steps applied.
func (o *Adam) Step() *graph.Node { return o.step }

// Apply implements Optimizer.
func (o *Adam) Apply(grads, vars []*graph.Node) (*graph.Node, error) {
	up, err := buildUpdates(&adamRule{b1: o.beta1, b2: o.beta2, eps: o.epsil}, o.name, o.lr, o.step,
		[]slotSpec{{"m", 0}, {"v", 0}}, grads, vars)
	if err != nil {
		return nil, err
	}
	return withStepCounter(o.step, up)
}

type adamRule struct{ b1, b2, eps float32 }

func (r *adamRule) name() string { return "Adam" }
func (r *adamRule) coeffs(lr float32, t float64) [4]float32 {
	lrt := float64(lr) * math.Sqrt(1-math.Pow(float64(r.b2), t)) / (1 - math.Pow(float64(r.b1), t))
	return [4]float32{float32(lrt), r.b1, r.b2, r.eps}
}
func (r *adamRule) apply(k *[4]float32, w, g, m, v []float32) {
	lrt, b1, b2, eps := k[0], k[1], k[2], k[3]
	g, m, v = g[:len(w)], m[:len(w)], v[:len(w)]
	for i := range w {
		gi := g[i]
		mi := b1*m[i] + (1-b1)*gi
		vi := b2*v[i] + (1-b2)*gi*gi
		m[i], v[i] = mi, vi
		w[i] -= lrt * mi / (sqrt32(vi) + eps)
	}
}

// Adagrad is TensorFlow's AdagradOptimizer:
//
//	a += g²;  w -= lr·g/(√a + ε)
//
// with the accumulator name/var/accumulator starting at initialAccumulator
// (TensorFlow: 0.1, ε 0).
type Adagrad struct {
	name      string
	lr        *graph.Node
	init, eps float32
}

// NewAdagrad returns an Adagrad optimizer.
func NewAdagrad(g *graph.Graph, name string, lr, initialAccumulator, epsilon float32) *Adagrad {
	return &Adagrad{name: name, lr: learningRate(g, name, lr), init: initialAccumulator, eps: epsilon}
}

// LearningRate implements Optimizer.
func (o *Adagrad) LearningRate() *graph.Node { return o.lr }

// Apply implements Optimizer.
func (o *Adagrad) Apply(grads, vars []*graph.Node) (*graph.Node, error) {
	return buildUpdates(&adagradRule{eps: o.eps}, o.name, o.lr, nil, []slotSpec{{"accumulator", o.init}}, grads, vars)
}

type adagradRule struct{ eps float32 }

func (r *adagradRule) name() string                            { return "Adagrad" }
func (r *adagradRule) coeffs(lr float32, _ float64) [4]float32 { return [4]float32{lr, r.eps} }
func (r *adagradRule) apply(k *[4]float32, w, g, a, _ []float32) {
	lr, eps := k[0], k[1]
	g, a = g[:len(w)], a[:len(w)]
	for i := range w {
		ai := a[i] + g[i]*g[i]
		a[i] = ai
		w[i] -= lr * g[i] / (sqrt32(ai) + eps)
	}
}

// RMSProp is TensorFlow's RMSPropOptimizer (uncentered):
//
//	ms = ρ·ms + (1-ρ)·g²;  mom = μ·mom + lr·g/√(ms + ε);  w -= mom
//
// Slots: name/var/rms, starting at 1 as in TensorFlow, and name/var/momentum.
// TensorFlow's defaults are ρ 0.9, μ 0, ε 1e-10.
type RMSProp struct {
	name               string
	lr                 *graph.Node
	decay, mom, epsilo float32
}

// NewRMSProp returns an RMSProp optimizer.
func NewRMSProp(g *graph.Graph, name string, lr, decay, momentum, epsilon float32) *RMSProp {
	return &RMSProp{name: name, lr: learningRate(g, name, lr), decay: decay, mom: momentum, epsilo: epsilon}
}

// LearningRate implements Optimizer.
func (o *RMSProp) LearningRate() *graph.Node { return o.lr }

// Apply implements Optimizer.
func (o *RMSProp) Apply(grads, vars []*graph.Node) (*graph.Node, error) {
	return buildUpdates(&rmspropRule{rho: o.decay, mu: o.mom, eps: o.epsilo}, o.name, o.lr, nil,
		[]slotSpec{{"rms", 1}, {"momentum", 0}}, grads, vars)
}

type rmspropRule struct{ rho, mu, eps float32 }

func (r *rmspropRule) name() string { return "RMSProp" }
func (r *rmspropRule) coeffs(lr float32, _ float64) [4]float32 {
	return [4]float32{lr, r.rho, r.mu, r.eps}
}
func (r *rmspropRule) apply(k *[4]float32, w, g, ms, mom []float32) {
	lr, rho, mu, eps := k[0], k[1], k[2], k[3]
	g, ms, mom = g[:len(w)], ms[:len(w)], mom[:len(w)]
	for i := range w {
		gi := g[i]
		s := rho*ms[i] + (1-rho)*gi*gi
		ms[i] = s
		m := mu*mom[i] + lr*gi/sqrt32(s+eps)
		mom[i] = m
		w[i] -= m
	}
}
