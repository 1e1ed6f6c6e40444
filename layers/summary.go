package layers

import (
	"fmt"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/tlgo/tl/graph"
)

// Summary describes the network that ends with l, one layer a line: its name
// and kind, its output shape (?: fed at run time), its number of parameters and
// its inputs; then the totals, each shared parameter counted once.
//
//	layer  kind     output shape  params   inputs
//	x      Input    (?, 784)      0
//	fc1    Dense    (?, 1000)     785,000  x
//	...
//	params: 795,010 (trainable 795,010, other 0), in 4 variables
func (l *Layer) Summary() string {
	if l.err != nil {
		return "network failed to build: " + l.err.Error()
	}
	var sb strings.Builder
	tw := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "layer\tkind\toutput shape\tparams\tinputs")
	for _, x := range l.Layers() {
		n := 0
		for _, p := range x.params {
			n += p.Shape().Size()
		}
		var ins []string
		for _, in := range x.inputs {
			ins = append(ins, in.name)
		}
		kind := x.Kind()
		if x.reuse {
			kind += " (reused)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\n", x.name, kind, x.Shape(), thousands(n), strings.Join(ins, ", "))
	}
	tw.Flush()
	// tabwriter pads the last column; trailing spaces help nobody.
	lines := strings.Split(sb.String(), "\n")
	for i, line := range lines {
		lines[i] = strings.TrimRight(line, " ")
	}
	sb.Reset()
	sb.WriteString(strings.Join(lines, "\n"))
	all := l.AllParams()
	total, trainable := 0, 0
	for _, p := range all {
		total += p.Shape().Size()
		if _, tr := p.IsVariable(); tr {
			trainable += p.Shape().Size()
		}
	}
	fmt.Fprintf(&sb, "params: %s (trainable %s, other %s), in %d variables\n",
		thousands(total), thousands(trainable), thousands(total-trainable), len(all))
	return sb.String()
}

// ParamSummary describes every parameter of the network, each once, one a
// line: its name, shape, number of values, whether optimizers train it, and
// the mean and standard deviation of its current values (TensorLayer's
// print_params), to see at a glance what was initialised or loaded.
func (l *Layer) ParamSummary() string {
	var sb strings.Builder
	tw := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "param\tshape\tvalues\ttrainable\tmean\tstd")
	for _, p := range l.AllParams() {
		_, tr := p.IsVariable()
		var mean, std float64
		if t := p.Tensor(); t != nil {
			d := t.Float32s()
			for _, v := range d {
				mean += float64(v)
			}
			mean /= float64(max(len(d), 1))
			for _, v := range d {
				std += (float64(v) - mean) * (float64(v) - mean)
			}
			std = math.Sqrt(std / float64(max(len(d), 1)))
		}
		fmt.Fprintf(tw, "%s\t%v\t%s\t%v\t%.4g\t%.4g\n", p.Name(), p.Shape(), thousands(p.Shape().Size()), tr, mean, std)
	}
	tw.Flush()
	return sb.String()
}

// String is the network's Summary.
func (l *Layer) String() string { return l.Summary() }

// ParamCount returns the number of parameter values of the network that ends
// with l (each shared parameter once).
func (l *Layer) ParamCount() int {
	n := 0
	for _, p := range l.AllParams() {
		n += p.Shape().Size()
	}
	return n
}

// ParamsByLayer maps every layer name of the network to its parameters.
func (l *Layer) ParamsByLayer() map[string][]*graph.Node {
	m := map[string][]*graph.Node{}
	for _, x := range l.Layers() {
		if _, ok := m[x.name]; !ok {
			m[x.name] = x.Params()
		}
	}
	return m
}

// thousands writes n with commas: 1,234,567.
func thousands(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return s
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
