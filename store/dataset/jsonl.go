package dataset

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
)

// JSONLRecord is one line of a JSON Lines sample file (ImportJSONL): a
// tensor X of DType (float32, the default, int32 or uint8) and Shape
// (default [len(X)]), a class Label, and an optional float32 Target of
// TargetShape (default [len(Target)]; [] for a scalar).
type JSONLRecord struct {
	Key         string         `json:"key"`
	X           []float64      `json:"x"`
	Shape       []int          `json:"shape"`
	DType       DType          `json:"dtype"`
	Label       int            `json:"label"`
	LabelName   string         `json:"label_name"`
	Target      []float64      `json:"target"`
	TargetShape []int          `json:"target_shape"`
	Tags        []string       `json:"tags"`
	Fields      map[string]any `json:"fields"`
}

// maxJSONLLine bounds one line of a JSONL file: a sample of a million
// values written as text.
const maxJSONLLine = 64 << 20

// sample converts the record, checking what Insert checks; line names it.
func (r *JSONLRecord) sample(line int) (Sample, error) {
	bad := func(format string, args ...any) (Sample, error) {
		return Sample{}, fmt.Errorf("line %d: %s", line, fmt.Sprintf(format, args...))
	}
	if r.Key == "" {
		r.Key = fmt.Sprintf("%08d", line)
	}
	if r.X == nil {
		return bad(`"x" missing: expected the sample's values`)
	}
	shape := r.Shape
	if shape == nil {
		shape = []int{len(r.X)}
	}
	t := &Tensor{DType: r.DType, Shape: shape}
	if t.DType == "" {
		t.DType = Float32
	}
	for i, v := range r.X {
		switch t.DType {
		case Float32:
			t.Float32 = append(t.Float32, float32(v))
		case Int32:
			if v != float64(int32(v)) {
				return bad(`"x" element %d is %v: expected an int32`, i, v)
			}
			t.Int32 = append(t.Int32, int32(v))
		case Uint8:
			if v != float64(uint8(v)) {
				return bad(`"x" element %d is %v: expected a uint8 (0..255)`, i, v)
			}
			t.Uint8 = append(t.Uint8, uint8(v))
		default:
			return bad(`"dtype" %q: expected float32, int32 or uint8`, t.DType)
		}
	}
	s := Sample{Key: r.Key, Tensor: t, Label: r.Label, LabelName: r.LabelName, Tags: r.Tags, Fields: r.Fields}
	if r.Target != nil || r.TargetShape != nil {
		ts := r.TargetShape
		if ts == nil {
			ts = []int{len(r.Target)}
		}
		y := make([]float32, len(r.Target))
		for i, v := range r.Target {
			y[i] = float32(v)
		}
		s.Target = Float32Tensor(ts, y)
	}
	if err := s.validate(); err != nil {
		return bad("%v", err)
	}
	return s, nil
}

// JSONLSamples reads a JSON Lines file of JSONLRecord objects (unknown
// fields refused, blank lines skipped) lazily, as the iterator advances.
// A line without a key is keyed by its number, zero-padded ("00000042"),
// so that a rerun finds the same keys. The count of records is returned,
// and every line has been checked before it returns (as Insert checks a
// sample, and keys unique within the file): a bad file fails naming its
// line, before anything could be written.
func JSONLSamples(ctx context.Context, path string) (iter.Seq2[Sample, error], int, error) {
	seen := map[string]int{}
	if err := scanJSONL(ctx, path, func(line int, r *JSONLRecord) error {
		s, err := r.sample(line)
		if err != nil {
			return err
		}
		if first, ok := seen[s.Key]; ok {
			return fmt.Errorf("line %d: key %q is the key of line %d too: %w", line, s.Key, first, ErrDuplicateKey)
		}
		seen[s.Key] = line
		return nil
	}); err != nil {
		return nil, 0, err
	}
	n := len(seen)
	return func(yield func(Sample, error) bool) {
		stop := errors.New("stop")
		err := scanJSONL(ctx, path, func(line int, r *JSONLRecord) error {
			s, err := r.sample(line)
			if err != nil {
				return err
			}
			if !yield(s, nil) {
				return stop
			}
			return nil
		})
		if err != nil && !errors.Is(err, stop) {
			yield(Sample{}, err)
		}
	}, n, nil
}

// scanJSONL decodes every non-blank line of path into fn.
func scanJSONL(ctx context.Context, path string, fn func(line int, r *JSONLRecord) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("dataset: JSONL: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), maxJSONLLine)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("dataset: JSONL %s: %w", path, err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		var r JSONLRecord
		if err := dec.Decode(&r); err != nil {
			return fmt.Errorf("dataset: JSONL %s: line %d: %w (expected an object of key, x, shape, dtype, label, label_name, target, target_shape, tags, fields)", path, line, err)
		}
		if dec.More() {
			return fmt.Errorf("dataset: JSONL %s: line %d: more than one JSON value", path, line)
		}
		if err := fn(line, &r); err != nil {
			return fmt.Errorf("dataset: JSONL %s: %w", path, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("dataset: JSONL %s: after line %d: %w", path, line, err)
	}
	return nil
}

// ImportJSONL imports a JSON Lines file of samples (see JSONLRecord and
// JSONLSamples): the way to store feature vectors with class ids or with
// regression targets. Every line is checked first; a bad one fails the
// import, naming it, with nothing written.
func ImportJSONL(ctx context.Context, c *Collection, path string, o ImportOptions) (ImportStats, error) {
	src, n, err := JSONLSamples(ctx, path)
	if err != nil {
		return ImportStats{}, err
	}
	if o.Total == 0 {
		o.Total = n
	}
	if o.Label == "" {
		o.Label = "import " + filepath.Base(path)
	}
	return Import(ctx, c, src, o)
}
