package graph

import (
	"fmt"
	"time"
)

// Profile runs one step as Run does, timing each node's kernel with the wall
// clock, and says where the step's time went. The kernels run one after the
// other as in Run (a CPU plan has no queue), so the sum of the nodes is the
// step; only the clock reads are added.
func (p *Plan) Profile() (*DeviceProfile, error) {
	prof := &DeviceProfile{Device: "cpu", Nodes: make([]NodeTime, 0, len(p.kernels))}
	start := time.Now()
	last := start
	for i, k := range p.kernels {
		k.Run()
		if p.runErr != nil {
			err := p.runErr
			p.runErr = nil
			return nil, fmt.Errorf("graph: profiling %s: %w", describeNode(p.knodes[i]), err)
		}
		now := time.Now()
		prof.Nodes = append(prof.Nodes, NodeTime{Node: p.knodes[i], With: p.kfused[i], Ms: float64(now.Sub(last)) / 1e6})
		last = now
	}
	prof.TotalMs = float64(last.Sub(start)) / 1e6
	return prof, nil
}

// Profile is Run with a profile of the step instead of its results (see
// Plan.Profile).
func (e *Executor) Profile(feeds ...Feed) (*DeviceProfile, error) {
	p, err := e.Plan(feeds...)
	if err != nil {
		return nil, err
	}
	if err := feedInto(feeds, p.Input); err != nil {
		return nil, err
	}
	return p.Profile()
}
