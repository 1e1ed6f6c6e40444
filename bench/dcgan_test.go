package bench

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tlgo/tl/graph"
)

// The two builds of the DCGAN are one network: the same variables by name and
// shape, as many parameters as examples/dcgan's default networks (generator
// 834,369 and discriminator 213,249, batch norm's moving statistics included),
// and the same split between the two players.
func TestDCGANSameNetwork(t *testing.T) {
	shapes := map[API]map[string]string{}
	for _, api := range []API{Layers, Graph} {
		n, err := buildDCGAN(api)
		if err != nil {
			t.Fatalf("%s: %v", api, err)
		}
		shapes[api] = map[string]string{}
		total := 0
		for _, v := range n.g.Variables() {
			shapes[api][v.Name()] = v.Shape().String()
			total += v.Shape().Size()
		}
		if total != 834369+213249 {
			t.Errorf("%s: %d parameters, want %d", api, total, 834369+213249)
		}
		if len(n.dVars) != 7 || len(n.gVars) != 8 {
			t.Errorf("%s: %d discriminator and %d generator trainables, want 7 and 8", api, len(n.dVars), len(n.gVars))
		}
		if got := n.gen.Shape().String(); got != "(?, 28, 28, 1)" {
			t.Errorf("%s: generator output %s", api, got)
		}
	}
	if fmt.Sprint(shapes[Layers]) != fmt.Sprint(shapes[Graph]) {
		t.Fatalf("variables differ:\nlayers %v\ngraph  %v", shapes[Layers], shapes[Graph])
	}
}

// A profile of a DCGAN training step names the nodes of both updates: the
// discriminator's (its loss on real images first) and then the generator's.
func TestDCGANProfile(t *testing.T) {
	s, err := newDCGAN(Graph, "train", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	prof, err := s.(interface {
		Profile() (*graph.DeviceProfile, error)
	}).Profile()
	if err != nil {
		t.Fatal(err)
	}
	ps := s.(*pairStep)
	nd, ng := len(ps.d.exe.(*graph.Executor).Plans()[0].Nodes()), len(ps.g.exe.(*graph.Executor).Plans()[0].Nodes())
	if len(prof.Nodes) != nd+ng || nd == 0 || ng == 0 {
		t.Fatalf("profile has %d nodes, the updates run %d and %d", len(prof.Nodes), nd, ng)
	}
	sum := 0.0
	for _, n := range prof.Nodes {
		sum += n.Ms
	}
	if prof.TotalMs <= 0 || sum > prof.TotalMs*1.0001+1e-9 {
		t.Errorf("nodes add up to %v ms, the step %v ms", sum, prof.TotalMs)
	}
	if ops := prof.ByOp(); len(ops) == 0 || !strings.HasPrefix(ops[0].Op, "Conv2D") {
		t.Errorf("the step's largest op type is %v, want a convolution", ops)
	}
}

// One DCGAN training step (a discriminator and a generator update, batch 64):
// images/s, and images per CPU-second of the process (all its threads), which
// the other processes of a loaded machine disturb less than the wall clock.
func BenchmarkDCGAN(b *testing.B) {
	for _, api := range []API{Layers, Graph} {
		b.Run(string(api), func(b *testing.B) {
			s, err := newDCGAN(api, "train", nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			for range 3 {
				if err := s.Run(); err != nil {
					b.Fatal(err)
				}
			}
			c0 := cpuTime(b)
			b.ResetTimer()
			for range b.N {
				if err := s.Run(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(dcganBatch*b.N)/b.Elapsed().Seconds(), "images/s")
			b.ReportMetric(float64(dcganBatch*b.N)/(cpuTime(b)-c0).Seconds(), "images/cpu-s")
		})
	}
}

// cpuTime is the user and system time of the process so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
