// Package netstore saves a layers network as a model version and rebuilds
// it from the store: the glue between package models (versions, weights
// bytes, architecture JSON) and package modelio (a network's architecture
// JSON and safetensors weights). It is a package of its own so that
// programs that only move model bytes do not link the engine.
package netstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/modelio"
	"github.com/tlgo/tl/store/models"
)

// Save stores net (its architecture and every parameter) as the next
// version of spec.Name; spec.Architecture is filled from the network. The
// weights go from the network to the store through memory, never a file.
func Save(ctx context.Context, s *models.Store, spec models.Spec, net *layers.Layer) (*models.Model, error) {
	arch, err := net.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("netstore: save %s: architecture: %w", spec.Name, err)
	}
	spec.Architecture = json.RawMessage(arch)
	var w bytes.Buffer
	if err := modelio.WriteWeights(&w, net.AllParams(), nil); err != nil {
		return nil, fmt.Errorf("netstore: save %s: %w", spec.Name, err)
	}
	return s.Save(ctx, spec, &w)
}

// Load finds the model ref names, checks its weights (models.Store.Load:
// checksum, local cache) and rebuilds the network in g with them. As
// modelio.Load, the architecture may declare no more parameters than the
// weights can hold, so a damaged record fails before it allocates.
func Load(ctx context.Context, s *models.Store, ref models.Ref, g *graph.Graph, opts ...layers.LoadOption) (*layers.Layer, *models.Model, error) {
	l, err := s.Load(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	opts = append([]layers.LoadOption{layers.MaxParams(min(len(l.Weights)/2, layers.DefaultMaxParams))}, opts...)
	net, err := layers.FromJSON(g, l.Architecture, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("netstore: rebuild %s v%d: architecture: %w", l.Name, l.Version, err)
	}
	if _, err := modelio.DecodeWeights(l.Weights, net.AllParams(), modelio.Source(fmt.Sprintf("model %s v%d", l.Name, l.Version))); err != nil {
		return nil, nil, fmt.Errorf("netstore: rebuild %s v%d: %w", l.Name, l.Version, err)
	}
	return net, l.Model, nil
}
