// Package netstore saves a layers network as a model version and rebuilds
// it from the store: the glue between package models (versions, weights
// bytes, architecture JSON) and package modelio (a network's architecture
// JSON and safetensors weights). It is a package of its own so that
// programs that only move model bytes do not link the engine.
package netstore

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/modelio"
	"github.com/tlgo/tl/store/models"
)

// Save stores net (its architecture and every parameter) as the next
// version of spec.Name; spec.Architecture is filled from the network.
func Save(ctx context.Context, s *models.Store, spec models.Spec, net *layers.Layer) (*models.Model, error) {
	dir, err := os.MkdirTemp("", "tl-netstore-")
	if err != nil {
		return nil, fmt.Errorf("netstore: save %s: %w", spec.Name, err)
	}
	defer os.RemoveAll(dir)
	if err := modelio.Save(ctx, dir, net, nil); err != nil {
		return nil, fmt.Errorf("netstore: save %s: %w", spec.Name, err)
	}
	arch, err := os.ReadFile(filepath.Join(dir, modelio.ArchitectureFile))
	if err != nil {
		return nil, fmt.Errorf("netstore: save %s: %w", spec.Name, err)
	}
	spec.Architecture = json.RawMessage(arch)
	f, err := os.Open(filepath.Join(dir, modelio.WeightsFile))
	if err != nil {
		return nil, fmt.Errorf("netstore: save %s: %w", spec.Name, err)
	}
	defer f.Close()
	return s.Save(ctx, spec, f)
}

// Load finds the model ref names, checks its weights (models.Store.Load:
// checksum, local cache) and rebuilds the network in g with them.
func Load(ctx context.Context, s *models.Store, ref models.Ref, g *graph.Graph, opts ...layers.LoadOption) (*layers.Layer, *models.Model, error) {
	l, err := s.Load(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "tl-netstore-")
	if err != nil {
		return nil, nil, fmt.Errorf("netstore: load %s: %w", ref, err)
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, modelio.ArchitectureFile), l.Architecture, 0o644); err != nil {
		return nil, nil, fmt.Errorf("netstore: load %s: %w", ref, err)
	}
	if err := os.WriteFile(filepath.Join(dir, modelio.WeightsFile), l.Weights, 0o644); err != nil {
		return nil, nil, fmt.Errorf("netstore: load %s: %w", ref, err)
	}
	net, _, err := modelio.Load(ctx, dir, g, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("netstore: rebuild %s v%d: %w", l.Name, l.Version, err)
	}
	return net, l.Model, nil
}
