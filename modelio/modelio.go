package modelio

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/modelio/safetensors"
	"github.com/tlgo/tl/tensor"
)

// File names inside a model folder.
const (
	ArchitectureFile = "architecture.json"
	WeightsFile      = "model.safetensors"
)

// ErrMismatch is wrapped by a *MismatchError.
var ErrMismatch = errors.New("weights do not match the network")

// MismatchError lists every difference between a weights file and the
// variables it is loaded into. Nothing is loaded when there is one.
type MismatchError struct {
	File       string
	Missing    []string // variables with no tensor in the file
	Unexpected []string // tensors of the file that match no variable
	Shapes     []string // "name: file (3, 4), network (4, 4)"
	Types      []string // "name: file I64, network float32"
}

// Error lists every mismatch.
func (e *MismatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "modelio: %s does not match the network:", e.File)
	list := func(what string, xs []string) {
		if len(xs) > 0 {
			fmt.Fprintf(&b, " %s: %s;", what, strings.Join(xs, ", "))
		}
	}
	list("missing from the file", e.Missing)
	list("not in the network", e.Unexpected)
	list("shapes differ", e.Shapes)
	list("types do not convert", e.Types)
	return strings.TrimSuffix(b.String(), ";")
}

// Unwrap returns ErrMismatch.
func (e *MismatchError) Unwrap() error { return ErrMismatch }

// SaveWeights writes variables to path as safetensors, each under its graph
// name ("dense1/W"), float32 as F32. The file is replaced atomically.
func SaveWeights(ctx context.Context, path string, vars []*graph.Node, metadata map[string]string) error {
	ts, err := weightTensors("SaveWeights", vars)
	if err != nil {
		return err
	}
	if err := safetensors.WriteFile(ctx, path, ts, metadata); err != nil {
		return fmt.Errorf("modelio: SaveWeights: %w", err)
	}
	return nil
}

// WriteWeights writes variables to w as safetensors, as SaveWeights writes a
// file: the bytes a model store keeps, with no file in between.
func WriteWeights(w io.Writer, vars []*graph.Node, metadata map[string]string) error {
	ts, err := weightTensors("WriteWeights", vars)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<20) // Encode writes tensor by tensor
	if err := safetensors.Encode(bw, ts, metadata); err != nil {
		return fmt.Errorf("modelio: WriteWeights: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("modelio: WriteWeights: %w", err)
	}
	return nil
}

// weightTensors views variables as safetensors tensors (no copy).
func weightTensors(op string, vars []*graph.Node) ([]safetensors.Tensor, error) {
	ts := make([]safetensors.Tensor, 0, len(vars))
	for _, v := range vars {
		if isVar, _ := v.IsVariable(); !isVar || v.Tensor() == nil {
			return nil, fmt.Errorf("modelio: %s: %s is not a variable", op, v.Name())
		}
		t := v.Tensor()
		switch t.DType() {
		case tensor.Float32:
			ts = append(ts, safetensors.FromFloat32(v.Name(), t.Shape(), t.Float32s()))
		case tensor.Int32:
			ts = append(ts, safetensors.FromInt32(v.Name(), t.Shape(), t.Int32s()))
		default:
			return nil, fmt.Errorf("modelio: %s: %s is %v, which safetensors does not hold here", op, v.Name(), t.DType())
		}
	}
	return ts, nil
}

// LoadOption changes how LoadWeights matches a file with variables.
type LoadOption func(*loadConfig)

type loadConfig struct {
	allowUnused bool
	source      string
}

// AllowUnused lets the file hold tensors that match no variable (a checkpoint
// with optimizer state loaded into an inference network, say).
func AllowUnused() LoadOption { return func(c *loadConfig) { c.allowUnused = true } }

// Source names the weights in errors ("model m v3") where there is no file
// name: ReadWeights and DecodeWeights say "weights" otherwise.
func Source(name string) LoadOption { return func(c *loadConfig) { c.source = name } }

// LoadWeights reads a safetensors file and copies each tensor into the variable
// of the same name. Every variable must be in the file with its shape and a type
// that converts (F32, F16, BF16, F64 into float32; I32 into int32), and, unless
// AllowUnused, every tensor of the file must match a variable. Otherwise it
// returns a *MismatchError listing every difference and changes nothing. It
// returns the file's metadata.
func LoadWeights(ctx context.Context, path string, vars []*graph.Node, opts ...LoadOption) (map[string]string, error) {
	cfg := loadConfig{source: path}
	for _, o := range opts {
		o(&cfg)
	}
	f, err := safetensors.ReadFile(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("modelio: %w", err)
	}
	if err := assign(cfg.source, f, vars, cfg); err != nil {
		return nil, err
	}
	return f.Metadata, nil
}

// ReadWeights is LoadWeights from a stream (a model store's weights): it reads
// r to its end, then matches and copies as LoadWeights does.
func ReadWeights(r io.Reader, vars []*graph.Node, opts ...LoadOption) (map[string]string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("modelio: ReadWeights: %w", err)
	}
	return DecodeWeights(b, vars, opts...)
}

// DecodeWeights is LoadWeights from safetensors bytes held in memory. The
// variables get copies: b may be reused afterwards.
func DecodeWeights(b []byte, vars []*graph.Node, opts ...LoadOption) (map[string]string, error) {
	cfg := loadConfig{source: "weights"}
	for _, o := range opts {
		o(&cfg)
	}
	f, err := safetensors.Decode(b)
	if err != nil {
		var e *safetensors.Error
		if errors.As(err, &e) && e.File == "" {
			e.File = cfg.source
		}
		return nil, fmt.Errorf("modelio: %w", err)
	}
	if err := assign(cfg.source, f, vars, cfg); err != nil {
		return nil, err
	}
	return f.Metadata, nil
}

// assign checks every pairing first, then copies: a mismatch leaves every
// variable as it was.
func assign(path string, f *safetensors.File, vars []*graph.Node, cfg loadConfig) error {
	mm := &MismatchError{File: path}
	type pair struct {
		v *graph.Node
		t *safetensors.Tensor
	}
	var pairs []pair
	used := map[string]bool{}
	for _, v := range vars {
		if isVar, _ := v.IsVariable(); !isVar || v.Tensor() == nil {
			return fmt.Errorf("modelio: LoadWeights: %s is not a variable", v.Name())
		}
		t, ok := f.Tensor(v.Name())
		if !ok {
			mm.Missing = append(mm.Missing, v.Name())
			continue
		}
		used[v.Name()] = true
		vt := v.Tensor()
		if !slices.Equal(t.Shape, []int(vt.Shape())) {
			mm.Shapes = append(mm.Shapes, fmt.Sprintf("%s: file %v, network %v", v.Name(), tensor.Shape(t.Shape), vt.Shape()))
			continue
		}
		conv := false
		switch vt.DType() {
		case tensor.Float32:
			conv = t.DType == safetensors.F32 || t.DType == safetensors.F16 || t.DType == safetensors.BF16 || t.DType == safetensors.F64
		case tensor.Int32:
			conv = t.DType == safetensors.I32
		}
		if !conv {
			mm.Types = append(mm.Types, fmt.Sprintf("%s: file %s, network %v", v.Name(), t.DType, vt.DType()))
			continue
		}
		pairs = append(pairs, pair{v, t})
	}
	if !cfg.allowUnused {
		for _, t := range f.Tensors {
			if !used[t.Name] {
				mm.Unexpected = append(mm.Unexpected, t.Name)
			}
		}
	}
	if len(mm.Missing)+len(mm.Unexpected)+len(mm.Shapes)+len(mm.Types) > 0 {
		return mm
	}
	for _, p := range pairs {
		vt := p.v.Tensor()
		var err error
		if vt.DType() == tensor.Float32 {
			err = p.t.Float32s(vt.Float32s())
		} else {
			err = p.t.Int32s(vt.Int32s())
		}
		if err != nil { // checked above; a failure here is a bug
			return fmt.Errorf("modelio: LoadWeights: %w", err)
		}
	}
	return nil
}

// Save writes a network to dir (created if needed): its architecture as JSON
// (layers' MarshalJSON) in architecture.json and every parameter of the network
// (AllParams, moving averages included) in model.safetensors. Load rebuilds the
// network from these two files alone.
func Save(ctx context.Context, dir string, net *layers.Layer, metadata map[string]string) error {
	arch, err := net.MarshalJSON()
	if err != nil {
		return fmt.Errorf("modelio: Save: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("modelio: Save: %w", err)
	}
	if err := SaveWeights(ctx, filepath.Join(dir, WeightsFile), net.AllParams(), metadata); err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(dir, ArchitectureFile), arch); err != nil {
		return fmt.Errorf("modelio: Save: %w", err)
	}
	return nil
}

// Load rebuilds in g the network saved in dir by Save, with its weights, and
// returns its last layer and the weights file's metadata. opts give
// layers.FromJSON what JSON cannot hold (Lambda functions, custom
// initializers). The architecture may declare no more parameters than the
// weights file can hold, so that a damaged architecture.json fails before it
// allocates.
func Load(ctx context.Context, dir string, g *graph.Graph, opts ...layers.LoadOption) (*layers.Layer, map[string]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("modelio: Load: %w", err)
	}
	arch, err := os.ReadFile(filepath.Join(dir, ArchitectureFile))
	if err != nil {
		return nil, nil, fmt.Errorf("modelio: Load: %w", err)
	}
	// The architecture may not declare more parameters than the weights file
	// can hold (2 bytes a value at the least, F16 or BF16): a corrupt or
	// hostile architecture.json fails before its layers are allocated.
	weights := filepath.Join(dir, WeightsFile)
	st, err := os.Stat(weights)
	if err != nil {
		return nil, nil, fmt.Errorf("modelio: Load: %w", err)
	}
	opts = append([]layers.LoadOption{layers.MaxParams(int(min(st.Size()/2, layers.DefaultMaxParams)))}, opts...)
	net, err := layers.FromJSON(g, arch, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("modelio: Load: %s: %w", filepath.Join(dir, ArchitectureFile), err)
	}
	meta, err := LoadWeights(ctx, weights, net.AllParams())
	if err != nil {
		return nil, nil, err
	}
	return net, meta, nil
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil { // CreateTemp makes it private
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
