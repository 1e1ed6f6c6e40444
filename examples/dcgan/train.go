package main

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/tensor"
)

// run trains the GAN: shuffled batches of real images, each a discriminator
// step then a generator step; after every epoch the recorder writes a grid of
// the generator's samples from fixed noise and, with a judge, measures them.
func run(ctx context.Context, o options) (*result, error) {
	a := o.Arch
	if o.Train == nil || o.Train.H != a.Size || o.Train.W != a.Size || o.Train.C != 1 {
		return nil, fmt.Errorf("dcgan: training images must be %d×%d×1 (the generator's output)", a.Size, a.Size)
	}
	if o.Batch <= 0 || o.Batch > o.Train.N || o.Epochs <= 0 {
		return nil, fmt.Errorf("dcgan: batch %d, epochs %d: want a batch from 1 to %d (the training images) and epochs > 0", o.Batch, o.Epochs, o.Train.N)
	}
	g := graph.New(o.Seed)
	eng := graph.NewEngine(g, o.Device)
	defer eng.Close()
	n, err := newGAN(g, o, eng)
	if err != nil {
		return nil, err
	}
	steps := o.Train.N / o.Batch
	rec, err := newRecorder(ctx, o, n, steps)
	if err != nil {
		return nil, err
	}
	defer rec.close(ctx)
	rng := rand.New(rand.NewPCG(o.Seed, 1))
	px := a.Size * a.Size
	real := tensor.New(tensor.Float32, o.Batch, a.Size, a.Size, 1)
	for ep := range o.Epochs {
		perm := rng.Perm(o.Train.N)
		for s := range steps {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			for i, k := range perm[s*o.Batch : (s+1)*o.Batch] {
				for j, p := range o.Train.Pixels[k*px : (k+1)*px] {
					real.Float32s()[i*px+j] = float32(p)/127.5 - 1
				}
			}
			st, err := n.step(real, rng)
			if err != nil {
				return nil, err
			}
			rec.step(ep, s, st)
		}
		if err := rec.epoch(ep, rng); err != nil {
			return nil, err
		}
	}
	if err := eng.Pull(); err != nil { // the weights, to save them
		return nil, fmt.Errorf("dcgan: %w", err)
	}
	return rec.finish(ctx)
}
