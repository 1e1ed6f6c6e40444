package graph

import (
	"fmt"

	"github.com/tlgo/tl/cpu/par"
	"github.com/tlgo/tl/tensor"
)

// Feed gives a placeholder its value for one run.
type Feed struct {
	Node  *Node
	Value *tensor.Tensor
}

// Executor runs a graph's targets for any fed shapes: it compiles a Plan the first
// time it sees a set of shapes (a new batch size, say) and reuses it afterwards. In
// steady state Run allocates nothing.
type Executor struct {
	g       *Graph
	opts    Options
	ownPool bool
	targets []*Node
	plans   []*Plan
}

// NewExecutor prepares to run targets. Compilation happens on first Run.
func (g *Graph) NewExecutor(opts Options, targets ...*Node) (*Executor, error) {
	if g.err != nil {
		return nil, fmt.Errorf("graph: NewExecutor on a graph with a building error: %w", g.err)
	}
	e := &Executor{g: g, opts: opts, targets: append([]*Node(nil), targets...)}
	if e.opts.Pool == nil {
		e.opts.Pool = par.NewPool(opts.Threads)
		e.ownPool = true
	}
	return e, nil
}

// Run copies feeds into the plan for their shapes, runs it, and returns the
// targets' tensors (nil for updaters). The tensors belong to the plan and are
// overwritten by the next Run with the same shapes.
func (e *Executor) Run(feeds ...Feed) ([]*tensor.Tensor, error) {
	p := e.find(feeds)
	if p == nil {
		var err error
		if p, err = e.compile(feeds); err != nil {
			return nil, err
		}
	}
	if err := feedInto(feeds, p.Input); err != nil {
		return nil, err
	}
	if err := p.Run(); err != nil {
		return nil, err
	}
	return p.targetT, nil
}

// Plan returns the plan Run would use for these feeds, compiling it if needed.
func (e *Executor) Plan(feeds ...Feed) (*Plan, error) {
	if p := e.find(feeds); p != nil {
		return p, nil
	}
	return e.compile(feeds)
}

// Plans returns the plans compiled so far.
func (e *Executor) Plans() []*Plan { return e.plans }

func (e *Executor) find(feeds []Feed) *Plan {
	for _, p := range e.plans {
		if matches(p, feeds) {
			return p
		}
	}
	return nil
}

func matches(p *Plan, feeds []Feed) bool { return feedsMatch(p.feeds, p.feedT, feeds) }

// feedsMatch reports whether feeds give every plan input (nodes, with host
// tensors ts) a value of the plan's shape.
func feedsMatch(nodes []*Node, ts []*tensor.Tensor, feeds []Feed) bool {
	for i, n := range nodes {
		found := false
		for _, f := range feeds {
			if f.Node == n {
				if !f.Value.Shape().Equal(ts[i].Shape()) {
					return false
				}
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// feedShapes checks feeds and returns their shapes, for compiling a plan.
func feedShapes(feeds []Feed) (map[*Node]tensor.Shape, error) {
	shapes := make(map[*Node]tensor.Shape, len(feeds))
	for _, f := range feeds {
		if f.Node == nil || f.Value == nil {
			return nil, fmt.Errorf("graph: Run: a Feed has a nil node or value")
		}
		if _, ok := f.Node.op.(placeholderOp); !ok {
			return nil, fmt.Errorf("graph: Run: %s is fed but is not a placeholder", f.Node.name)
		}
		if f.Value.DType() != f.Node.value.DType {
			return nil, fmt.Errorf("graph: Run: %s is %v, fed a %v tensor", f.Node.name, f.Node.value.DType, f.Value.DType())
		}
		shapes[f.Node] = f.Value.Shape()
	}
	return shapes, nil
}

func (e *Executor) compile(feeds []Feed) (*Plan, error) {
	shapes, err := feedShapes(feeds)
	if err != nil {
		return nil, err
	}
	opts := e.opts
	p, err := e.g.Compile(opts, shapes, e.targets...)
	if err != nil {
		return nil, err
	}
	e.plans = append(e.plans, p)
	return p, nil
}

// Close stops the executor's worker pool if it started one.
func (e *Executor) Close() {
	if e.ownPool {
		e.opts.Pool.Close()
	}
}

// feedInto copies each feed into the tensor input returns for its placeholder,
// skipping placeholders the plan does not need (input returns nil).
func feedInto(feeds []Feed, input func(*Node) *tensor.Tensor) error {
	for _, f := range feeds {
		dst := input(f.Node)
		if dst == nil {
			continue
		}
		if err := dst.CopyFrom(f.Value); err != nil {
			return fmt.Errorf("graph: feeding %s: %w", f.Node.name, err)
		}
	}
	return nil
}
