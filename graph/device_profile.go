package graph

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// DeviceProfile is where a step's time goes: the time of each node's kernels,
// measured launch by launch on a device (DevicePlan.Profile) or kernel by
// kernel on the CPU (Plan.Profile, Device "cpu").
type DeviceProfile struct {
	// Device names the device.
	Device string
	// TotalMs is the device time of the whole step, from the first kernel's
	// start to the last one's end.
	TotalMs float64
	// Nodes holds one entry per node that queued work, in plan order; Node is
	// nil for the plan's own work (the step counter, copies of the results).
	Nodes []NodeTime
}

// NodeTime is the device time of one node's kernels.
type NodeTime struct {
	Node *Node
	// With are the nodes whose work Node's kernel runs too (a product fused
	// into its bias, a convolution into its pooling), in order.
	With []*Node
	Ms   float64
}

// op is the op type the time is booked to: "Conv2DBiasAct+MaxPool2D" for a
// fused kernel.
func (nt NodeTime) op() string {
	if nt.Node == nil {
		return "(plan)"
	}
	var b strings.Builder
	for _, w := range nt.With {
		b.WriteString(w.op.Type())
		b.WriteByte('+')
	}
	b.WriteString(nt.Node.op.Type())
	return b.String()
}

// OpTime is the device time of all nodes of one op type.
type OpTime struct {
	Op    string
	Nodes int
	Ms    float64
}

// Profile runs one step as Run does (the feeds in, the targets out, variables
// updated) but launch by launch, with a device timestamp between nodes, and
// says how long each node's kernels took. Launch by launch, each kernel also
// waits for the host to queue it, so small kernels look no faster than the
// launch rate; a captured step (Run) does not pay that. The device must
// implement DeviceProfiler.
func (p *DevicePlan) Profile() (*DeviceProfile, error) {
	dp, ok := p.dev.(DeviceProfiler)
	if !ok {
		return nil, fmt.Errorf("graph: profiling a step on %s: the device cannot time its queue (no DeviceProfiler)", p.dev.Name())
	}
	marks, err := dp.NewMarks(len(p.kernels) + 1)
	if err != nil {
		return nil, fmt.Errorf("graph: profiling a step on %s: %w", p.dev.Name(), err)
	}
	defer marks.Close()
	err = p.step(func() error {
		if err := marks.Record(0); err != nil {
			return err
		}
		for i, k := range p.kernels {
			k.Run()
			if err := p.runErr; err != nil {
				p.runErr = nil
				return fmt.Errorf("graph: device run of %s: %w", describeNode(p.knodes[i]), err)
			}
			if err := marks.Record(i + 1); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	prof := &DeviceProfile{Device: p.dev.Name()}
	total, err := marks.Elapsed(0, len(p.kernels))
	if err != nil {
		return nil, err
	}
	prof.TotalMs = float64(total)
	for i, n := range p.knodes {
		ms, err := marks.Elapsed(i, i+1)
		if err != nil {
			return nil, err
		}
		if i >= p.planTail {
			n = nil
		}
		prof.Nodes = append(prof.Nodes, NodeTime{Node: n, Ms: float64(ms)})
	}
	return prof, nil
}

func describeNode(n *Node) string {
	if n == nil {
		return "the plan's own work"
	}
	return fmt.Sprintf("%s (%s)", n.name, n.op.Type())
}

// ByOp sums the nodes' time per op type, the largest first.
func (d *DeviceProfile) ByOp() []OpTime {
	idx := map[string]int{}
	var ops []OpTime
	for _, nt := range d.Nodes {
		name := nt.op()
		i, ok := idx[name]
		if !ok {
			i = len(ops)
			idx[name] = i
			ops = append(ops, OpTime{Op: name})
		}
		ops[i].Nodes++
		ops[i].Ms += nt.Ms
	}
	slices.SortStableFunc(ops, func(a, b OpTime) int { return cmp.Compare(b.Ms, a.Ms) })
	return ops
}

// Write prints the step's time by op type and its top slowest nodes.
func (d *DeviceProfile) Write(w io.Writer, top int) error {
	how := "launch by launch"
	if d.Device == "cpu" {
		how = "kernel by kernel"
	}
	if _, err := fmt.Fprintf(w, "step on %s, %s: %.3f ms\n", d.Device, how, d.TotalMs); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	share := func(ms float64) float64 {
		if d.TotalMs <= 0 {
			return 0
		}
		return 100 * ms / d.TotalMs
	}
	fmt.Fprintf(tw, "op\tnodes\tms\tshare\n")
	for _, o := range d.ByOp() {
		fmt.Fprintf(tw, "%s\t%d\t%.3f\t%.1f%%\n", o.Op, o.Nodes, o.Ms, share(o.Ms))
	}
	nodes := slices.Clone(d.Nodes)
	slices.SortStableFunc(nodes, func(a, b NodeTime) int { return cmp.Compare(b.Ms, a.Ms) })
	fmt.Fprintf(tw, "slowest nodes\tinputs -> output\tms\tshare\n")
	for _, nt := range nodes[:min(top, len(nodes))] {
		name := describeNode(nt.Node)
		if nt.With != nil {
			name = fmt.Sprintf("%s (%s)", nt.Node.name, nt.op())
		}
		fmt.Fprintf(tw, "%s\t%s\t%.3f\t%.1f%%\n", name, nodeShapes(nt.Node), nt.Ms, share(nt.Ms))
	}
	return tw.Flush()
}

// nodeShapes is "in0, in1 -> out", the shapes a node's kernel works on.
func nodeShapes(n *Node) string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	for i, x := range n.inputs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(x.value.Shape.String())
	}
	b.WriteString(" -> ")
	b.WriteString(n.value.Shape.String())
	return b.String()
}
