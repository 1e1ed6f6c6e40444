package a2c

import (
	"testing"

	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/rl/env"
	"github.com/tlgo/tl/rl/env/pong"
)

// pongConfig is examples/pong's default: 40×40 differenced frames, skip 4, one
// hidden layer of 256.
func pongConfig(threads int) Config {
	net := func(x *layers.Layer) (*layers.Layer, *layers.Layer) {
		h := layers.Flatten(x, "flatten")
		h = layers.Dense(h, "fc1", 256, layers.ReLU)
		return layers.Dense(h, "logits", 3), layers.Dense(h, "value", 1)
	}
	return Config{ObsShape: []int{40, 40, 1}, NumActions: 3, Net: net, Unroll: 20, Batch: 16, LR: 5e-4, Seed: 1, Threads: threads}
}

func pongPlayer(b *testing.B, cfg Config, envs int) *Player {
	vec, err := env.NewVec(envs, 1, func(int) env.Env {
		e, err := pong.New(pong.Options{Size: 40, Diff: true, FrameSkip: 4})
		if err != nil {
			b.Fatal(err)
		}
		return e
	})
	if err != nil {
		b.Fatal(err)
	}
	p, err := NewPlayer(cfg, vec, 2)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkPongPlayer: samples (agent steps of 4 frames) per second that one
// player goroutine produces: 8 games, the policy's forward pass on one thread.
func BenchmarkPongPlayer(b *testing.B) {
	cfg := pongConfig(1)
	p := pongPlayer(b, cfg, 8)
	defer p.Close()
	for b.Loop() {
		if _, err := p.Unroll(nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*8*cfg.Unroll)/b.Elapsed().Seconds(), "samples/s")
}

// BenchmarkPongLearner: samples per second the learner consumes alone (its
// ceiling in Figure 2), one update of 16 trajectories of 20 steps at a time,
// with 1 and 2 kernel threads.
func BenchmarkPongLearner(b *testing.B) {
	for _, threads := range []int{1, 2} {
		b.Run(map[int]string{1: "threads1", 2: "threads2"}[threads], func(b *testing.B) {
			cfg := pongConfig(threads)
			p := pongPlayer(b, cfg, 16)
			defer p.Close()
			trs, err := p.Unroll(nil)
			if err != nil {
				b.Fatal(err)
			}
			l, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			for b.Loop() {
				for _, tr := range trs {
					tr.Version = l.Version()
				}
				if _, err := l.Update(trs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*cfg.Batch*cfg.Unroll)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}
