package optim

import (
	"fmt"

	"github.com/tlgo/tl/graph"
)

// MinimizeOptions are the extras of MinimizeWith.
type MinimizeOptions struct {
	// Vars are the variables trained (all trainable variables when empty).
	Vars []*graph.Node
	// ClipNorm, when positive, scales the gradients down together when their
	// global norm exceeds it (graph.ClipByGlobalNorm; PTB uses 5).
	ClipNorm float32
	// WeightDecay, when positive, adds WeightDecay·Σ L2Loss(v) to the loss over
	// DecayVars, by default the trainable variables of rank 2 or more (weights, not
	// biases). The penalty's gradient is dense, so a decayed embedding gets dense
	// updates.
	WeightDecay float32
	DecayVars   []*graph.Node
}

// Step is what MinimizeWith builds.
type Step struct {
	// Update applies one step of the optimizer when run.
	Update *graph.Node
	// Loss is the loss minimized, weight decay included.
	Loss *graph.Node
	// GradNorm is the gradients' global norm before clipping (nil without
	// clipping).
	GradNorm *graph.Node
}

// MinimizeWith is Minimize with weight decay and gradient clipping.
func MinimizeWith(opt Optimizer, loss *graph.Node, o MinimizeOptions) (*Step, error) {
	g := loss.Graph()
	vars := o.Vars
	if len(vars) == 0 {
		vars = g.Trainable()
	}
	st := &Step{Loss: loss}
	if o.WeightDecay > 0 {
		decay := o.DecayVars
		if len(decay) == 0 {
			for _, v := range vars {
				if len(v.Shape()) >= 2 {
					decay = append(decay, v)
				}
			}
		}
		if len(decay) > 0 {
			pen := make([]*graph.Node, len(decay))
			for i, v := range decay {
				pen[i] = graph.L2Loss(v)
			}
			st.Loss = graph.Add(loss, graph.Scale(graph.AddN(pen...), o.WeightDecay))
		}
	}
	grads, err := graph.Gradients(st.Loss, vars...)
	if err != nil {
		return nil, fmt.Errorf("optim: MinimizeWith: %w", err)
	}
	if o.ClipNorm > 0 {
		var some bool
		for _, gr := range grads {
			some = some || gr != nil
		}
		if some {
			grads, st.GradNorm = graph.ClipByGlobalNorm(grads, o.ClipNorm)
		}
	}
	if err := g.Err(); err != nil {
		return nil, fmt.Errorf("optim: MinimizeWith: %w", err)
	}
	if st.Update, err = opt.Apply(grads, vars); err != nil {
		return nil, err
	}
	return st, nil
}
