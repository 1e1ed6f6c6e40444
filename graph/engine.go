package graph

import (
	"fmt"

	"github.com/tlgo/tl/cpu/par"
	"github.com/tlgo/tl/tensor"
)

// Runner runs a compiled step with feeds and returns its targets' values: an
// *Executor on the CPU, a *DeviceExecutor on a device.
type Runner interface {
	Run(feeds ...Feed) ([]*tensor.Tensor, error)
}

// Engine is where a graph's steps run, the CPU or a device, so that a program
// with several steps (a GAN's two updates and its sampler, say) writes each
// once for both: on the CPU its runners share one worker pool; on a device
// they share one copy of the variables, which Pull brings back to the graph.
type Engine struct {
	g     *Graph
	od    *OnDevice // nil: the CPU
	pool  *par.Pool
	execs []*Executor
}

// NewEngine returns the engine of g on dev, or on the CPU with a pool of
// GOMAXPROCS workers when dev is nil. Close releases it.
func NewEngine(g *Graph, dev Device) *Engine {
	if dev != nil {
		return &Engine{g: g, od: g.OnDevice(dev)}
	}
	return &Engine{g: g, pool: par.NewPool(0)}
}

// OnDevice is the device side of the engine, nil on the CPU.
func (e *Engine) OnDevice() *OnDevice { return e.od }

// Runner compiles targets, in training mode (batch statistics, dropout) or
// not. On the CPU the plans are compiled here, so a graph error shows now; on
// a device they are compiled at the first run.
func (e *Engine) Runner(training bool, targets ...*Node) (Runner, error) {
	if e.od != nil {
		if err := e.g.Err(); err != nil {
			return nil, fmt.Errorf("graph: a device runner of a graph with an error: %w", err)
		}
		return e.od.NewExecutor(DeviceOptions{Training: training}, targets...), nil
	}
	ex, err := e.g.NewExecutor(Options{Training: training, Pool: e.pool}, targets...)
	if err != nil {
		return nil, err
	}
	e.execs = append(e.execs, ex)
	return ex, nil
}

// Pull copies the variables' values from the device into the graph (to save
// them, say); on the CPU they are there already.
func (e *Engine) Pull() error {
	if e.od == nil {
		return nil
	}
	if err := e.od.Pull(); err != nil {
		return fmt.Errorf("graph: copying the variables from %s: %w", e.od.Device().Name(), err)
	}
	return nil
}

// Close releases the runners, the CPU pool and the device copies (without
// pulling them). The runners cannot run after it.
func (e *Engine) Close() {
	for _, ex := range e.execs {
		ex.Close()
	}
	e.execs = nil
	if e.pool != nil {
		e.pool.Close()
		e.pool = nil
	}
	if e.od != nil {
		e.od.Close()
		e.od = nil
	}
}
