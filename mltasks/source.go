package mltasks

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/feed"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/dataset"
	"github.com/tlgo/tl/tensor"
)

// Field names of a stored sample document (package dataset's stored format)
// that the view summary aggregates on the server.
const (
	docKind  = "kind"
	docShape = "shape"
	docSize  = "size"
	docKey   = "key"
	docLabel = "label"
	// docTarget is a sample's target tensor: a subdocument with kind and
	// shape as the payload has them.
	docTarget = "target"
)

// payload is the kind and shape every sample of a view shares.
type payload struct {
	Kind  string // "uint8", "int32", "float32" or "bytes"
	Shape []int  // a tensor's shape; for bytes, [size]
	Key   string // a sample that has it
}

func (p payload) String() string {
	if p.Kind == "bytes" {
		return fmt.Sprintf("%d bytes", p.Shape[0])
	}
	return fmt.Sprintf("%s %v", p.Kind, p.Shape)
}

// dtype is what the payload is fed as when the network does not say:
// int32 tokens stay int32, everything else becomes float32.
func (p payload) dtype() tensor.DType {
	if p.Kind == "int32" {
		return tensor.Int32
	}
	return tensor.Float32
}

// viewInfo is what the server says of a view without reading a payload.
type viewInfo struct {
	Name               string
	Count              int
	Payload            payload
	MinLabel, MaxLabel int
	// Target is the kind and shape of every sample's target tensor, or nil
	// when the samples are labelled by class ids alone.
	Target *payload
}

// regression reports whether the view's labels are target tensors.
func (info viewInfo) regression() bool { return info.Target != nil }

// openView finds a dataset view and checks, on the server, that it has
// samples and that they share one payload kind and shape (kind, shape and
// size are fields of the stored document: no payload is read). Its errors
// are task.Permanent.
func openView(ctx context.Context, db *store.DB, coll *dataset.Collection, name string) (*dataset.Dataset, viewInfo, error) {
	info := viewInfo{Name: name}
	ds, err := coll.Dataset(ctx, name)
	if errors.Is(err, dataset.ErrNotFound) {
		have, lerr := coll.Datasets(ctx)
		hint := "there are none: import one with tl import ... --define " + name
		switch {
		case lerr != nil:
			hint = "listing the datasets failed: " + lerr.Error()
		case len(have) > 0:
			hint = "the datasets there: " + strings.Join(have, ", ")
		}
		return nil, info, task.Permanent(fmt.Errorf("dataset %q not found in project %q (%s): %w", name, db.Project(), hint, err))
	}
	if err != nil {
		return nil, info, fmt.Errorf("dataset %q: %w", name, err)
	}
	pipe := bson.A{
		bson.D{{Key: "$match", Value: ds.Filter()}},
		bson.D{{Key: "$group", Value: bson.D{
			{Key: "_id", Value: bson.D{{Key: "k", Value: "$" + docKind}, {Key: "s", Value: "$" + docShape}, {Key: "z", Value: "$" + docSize},
				{Key: "tk", Value: "$" + docTarget + "." + docKind}, {Key: "ts", Value: "$" + docTarget + "." + docShape}}},
			{Key: "count", Value: bson.D{{Key: "$sum", Value: 1}}},
		}}},
	}
	var rows []struct {
		ID struct {
			K  string  `bson:"k"`
			S  []int64 `bson:"s"`
			Z  int64   `bson:"z"`
			TK string  `bson:"tk"`
			TS []int64 `bson:"ts"`
		} `bson:"_id"`
		Count int64 `bson:"count"`
	}
	cur, err := coll.Mongo().Aggregate(ctx, pipe)
	if err == nil {
		err = cur.All(ctx, &rows)
	}
	if err != nil {
		return nil, info, fmt.Errorf("dataset %q: summarising its sample shapes: %w", name, err)
	}
	if len(rows) == 0 {
		return nil, info, task.Permanent(fmt.Errorf("dataset %q has no samples (its query matches none in project %q)", name, db.Project()))
	}
	var kinds, targets []payload
	for _, r := range rows {
		tp := payload{Kind: r.ID.TK, Shape: []int{}} // Kind "": no target
		for _, d := range r.ID.TS {
			tp.Shape = append(tp.Shape, int(d))
		}
		targets = append(targets, tp)
		p := payload{Kind: r.ID.K}
		if p.Kind == "bytes" {
			p.Shape = []int{int(r.ID.Z)}
		} else {
			for _, d := range r.ID.S {
				p.Shape = append(p.Shape, int(d))
			}
		}
		info.Count += int(r.Count)
		kinds = append(kinds, p)
	}
	// The same shape may come in several groups (sizes differ after a
	// change of encoding, targets differ); what matters is kind and shape.
	slices.SortFunc(kinds, func(a, b payload) int { return strings.Compare(a.String(), b.String()) })
	kinds = slices.CompactFunc(kinds, func(a, b payload) bool { return a.Kind == b.Kind && slices.Equal(a.Shape, b.Shape) })
	for i := range kinds {
		k, err := sampleWith(ctx, coll, ds, kinds[i])
		if err != nil {
			return nil, info, fmt.Errorf("dataset %q: %w", name, err)
		}
		kinds[i].Key = k
	}
	if len(kinds) > 1 {
		return nil, info, task.Permanent(fmt.Errorf("dataset %q mixes sample shapes: sample %q is %v, sample %q is %v (a view's samples must share one shape; %d shapes in all)",
			name, kinds[0].Key, kinds[0], kinds[1].Key, kinds[1], len(kinds)))
	}
	info.Payload = kinds[0]
	if info.Target, err = viewTarget(ctx, coll, ds, name, targets); err != nil {
		return nil, info, err
	}
	labels, err := ds.LabelCounts(ctx)
	if err != nil {
		return nil, info, err
	}
	info.MinLabel, info.MaxLabel = labels[0].Label, labels[len(labels)-1].Label
	return ds, info, nil
}

// viewTarget is the target kind and shape every sample of the view shares
// (nil when none has a target), or a task.Permanent error naming two samples
// that differ: a view is a regression or a classification, never both.
func viewTarget(ctx context.Context, coll *dataset.Collection, ds *dataset.Dataset, name string, targets []payload) (*payload, error) {
	slices.SortFunc(targets, func(a, b payload) int { return strings.Compare(a.String(), b.String()) })
	targets = slices.CompactFunc(targets, func(a, b payload) bool { return a.Kind == b.Kind && slices.Equal(a.Shape, b.Shape) })
	if len(targets) == 1 && targets[0].Kind == "" {
		return nil, nil
	}
	for i := range targets {
		cond := bson.D{{Key: docTarget, Value: bson.D{{Key: "$exists", Value: false}}}}
		if targets[i].Kind != "" {
			sh := make(bson.A, len(targets[i].Shape))
			for j, d := range targets[i].Shape {
				sh[j] = int64(d)
			}
			cond = bson.D{{Key: docTarget + "." + docKind, Value: targets[i].Kind}, {Key: docTarget + "." + docShape, Value: sh}}
		}
		k, err := firstKey(ctx, coll, ds, cond)
		if err != nil {
			return nil, fmt.Errorf("dataset %q: %w", name, err)
		}
		targets[i].Key = k
	}
	if len(targets) > 1 {
		return nil, task.Permanent(fmt.Errorf("dataset %q mixes labels: sample %q has %s, sample %q has %s (a view's samples must all carry a target tensor of one shape, or none; %d kinds in all)",
			name, targets[0].Key, targets[0].label(), targets[1].Key, targets[1].label(), len(targets)))
	}
	return &targets[0], nil
}

// label says what a target payload is, for errors: "a class id only" for
// none.
func (p payload) label() string {
	if p.Kind == "" {
		return "a class id only"
	}
	return "a target " + p.String()
}

// sampleWith returns the key of a sample of ds with payload p.
func sampleWith(ctx context.Context, coll *dataset.Collection, ds *dataset.Dataset, p payload) (string, error) {
	cond := bson.D{{Key: docKind, Value: p.Kind}}
	if p.Kind == "bytes" {
		cond = append(cond, bson.E{Key: docSize, Value: int64(p.Shape[0])})
	} else {
		sh := make(bson.A, len(p.Shape))
		for i, d := range p.Shape {
			sh[i] = int64(d)
		}
		cond = append(cond, bson.E{Key: docShape, Value: sh})
	}
	return firstKey(ctx, coll, ds, cond)
}

// firstKey is the key of one sample of ds that also matches cond.
func firstKey(ctx context.Context, coll *dataset.Collection, ds *dataset.Dataset, cond bson.D) (string, error) {
	var row struct {
		Key string `bson:"key"`
	}
	err := coll.Mongo().FindOne(ctx, bson.D{{Key: "$and", Value: bson.A{ds.Filter(), cond}}},
		options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 0}, {Key: docKey, Value: 1}})).Decode(&row)
	if err != nil {
		return "", fmt.Errorf("finding a sample with %v: %w", cond, err)
	}
	return row.Key, nil
}

// checkLabels fails, naming a sample, when a label of the view is not a
// class of a network with classes outputs.
func checkLabels(ctx context.Context, coll *dataset.Collection, ds *dataset.Dataset, info viewInfo, classes int) error {
	if info.MinLabel >= 0 && info.MaxLabel < classes {
		return nil
	}
	key, err := firstKey(ctx, coll, ds, bson.D{{Key: "$or", Value: bson.A{
		bson.D{{Key: docLabel, Value: bson.D{{Key: "$lt", Value: 0}}}},
		bson.D{{Key: docLabel, Value: bson.D{{Key: "$gte", Value: classes}}}},
	}}})
	if err != nil {
		return fmt.Errorf("dataset %q: labels %d..%d: %w", info.Name, info.MinLabel, info.MaxLabel, err)
	}
	return task.Permanent(fmt.Errorf("dataset %q sample %q: a label out of range (the view's labels run %d..%d), the network has %d classes (0..%d)",
		info.Name, key, info.MinLabel, info.MaxLabel, classes, classes-1))
}

// checkTargets fails, naming a sample, when the view's labels do not fit
// what the network (output outName, of shape out, batch axis first) is
// trained or evaluated with: class ids in [0, classes) for cross_entropy,
// target tensors of the output's shape for mse (a scalar target fits an
// output of one value an example, as an H×W sample fits H×W×1).
func checkTargets(ctx context.Context, coll *dataset.Collection, ds *dataset.Dataset, info viewInfo, loss, outName string, out tensor.Shape) error {
	if err := checkLoss(info, loss); err != nil {
		return err
	}
	if loss != lossMSE {
		return checkLabels(ctx, coll, ds, info, out[1])
	}
	t := info.Target
	if len(out) == 0 || !targetFits(t.Shape, out[1:]) {
		return task.Permanent(fmt.Errorf("dataset %q sample %q has %s; the network's output layer %q gives %v (batch axis first), expected (batch, %s)",
			info.Name, t.Key, t.label(), outName, out, strings.Trim(fmt.Sprint(t.Shape), "[]")))
	}
	return nil
}

// checkLoss fails, naming a sample, when the view's labels are not what
// loss takes: class ids for cross_entropy, target tensors for mse.
func checkLoss(info viewInfo, loss string) error {
	switch t := info.Target; {
	case loss != lossMSE && t != nil:
		return task.Permanent(fmt.Errorf("dataset %q sample %q has %s; loss %s takes class ids (loss %s takes target tensors)", info.Name, t.Key, t.label(), loss, lossMSE))
	case loss == lossMSE && t == nil:
		return task.Permanent(fmt.Errorf("dataset %q sample %q has a class id only; loss %s needs samples that carry target tensors", info.Name, info.Payload.Key, lossMSE))
	}
	return nil
}

// targetFits reports whether a target of shape target feeds an output of
// shape out (without the batch axis).
func targetFits(target []int, out tensor.Shape) bool {
	return slices.Equal(target, []int(out)) || len(target) == 0 && slices.Equal([]int(out), []int{1})
}

// fits reports whether samples of payload p can feed a network input of
// shape in (batch axis first): the same shape, an H×W image as H×W×1, or
// raw bytes as any shape of as many values.
func fits(p payload, in tensor.Shape) bool {
	want := []int(in[1:])
	switch {
	case slices.Equal(p.Shape, want):
		return true
	case len(p.Shape) == 2 && len(want) == 3 && want[2] == 1 && p.Shape[0] == want[0] && p.Shape[1] == want[1]:
		return true
	case p.Kind == "bytes":
		return tensor.Shape(want).Size() == p.Shape[0]
	}
	return false
}

// checkInput fails, naming a sample, when the view's samples cannot feed
// the network's input (named inName, of shape in and type dt).
func checkInput(info viewInfo, inName string, in tensor.Shape, dt tensor.DType) error {
	p := info.Payload
	if !fits(p, in) {
		return task.Permanent(fmt.Errorf("dataset %q sample %q is %v; the network's input %q takes %v (batch axis first)", info.Name, p.Key, p, inName, in))
	}
	if dt == tensor.Int32 && p.Kind != "int32" {
		return task.Permanent(fmt.Errorf("dataset %q sample %q is %v; the network's input %q takes int32 ids", info.Name, p.Key, p, inName))
	}
	if dt != tensor.Int32 && dt != tensor.Float32 {
		return task.Permanent(fmt.Errorf("the network's input %q is %v: the train and evaluate kinds feed float32 or int32", inName, dt))
	}
	return nil
}

// viewOptions say how a viewBatches reads its view.
type viewOptions struct {
	Batch    int
	Limit    int
	Shuffle  bool
	Seed     uint64
	Prefetch int
	Cache    bool
	Classes  int // labels are checked to be in [0, Classes)
	// Target is the shape of one example's target as fed (the network's
	// output without the batch axis), for a view whose samples carry
	// targets; nil feeds class ids.
	Target tensor.Shape
}

// viewBatches is a feed.Batches over a dataset view, read through the
// dataset module (its disk cache, prefetch and shuffle): what it holds is
// one batch of samples and one batch of tensors (reused from batch to
// batch), plus what the module reads ahead, never the view. Samples are
// converted as they arrive: uint8 and bytes scaled to [0, 1], float32
// copied, int32 copied (or converted when the network takes float32).
type viewBatches struct {
	ds    *dataset.Dataset
	info  viewInfo
	o     viewOptions
	in    tensor.Shape // the network's input shape, batch axis first
	dt    tensor.DType
	specs []feed.Spec
	n     int // samples an epoch
	lut   [256]float32
	full  *feed.Batch
	part  *feed.Batch
	cur   *viewIter
}

var _ feed.Batches = (*viewBatches)(nil)

// newViewBatches streams the view info describes (checked by openView and
// checkInput) into batches for a network input of shape in and type dt.
func newViewBatches(ds *dataset.Dataset, info viewInfo, in tensor.Shape, dt tensor.DType, o viewOptions) *viewBatches {
	v := &viewBatches{ds: ds, info: info, o: o, in: in, dt: dt, n: info.Count}
	if o.Limit > 0 {
		v.n = min(v.n, o.Limit)
	}
	v.specs = []feed.Spec{{Shape: in[1:].Clone(), DType: dt}, {Shape: tensor.Shape{}, DType: tensor.Int32}}
	if o.Target != nil {
		v.specs[1] = feed.Spec{Shape: o.Target.Clone(), DType: tensor.Float32}
	}
	for i := range v.lut {
		v.lut[i] = float32(i) / 255
	}
	return v
}

// Specs implements feed.Batches: the input and the label (a class id, or
// a float32 target).
func (v *viewBatches) Specs() []feed.Spec { return v.specs }

// Batches implements feed.Batches: from the view's count when the task
// started (samples inserted since are read too).
func (v *viewBatches) Batches() int { return (v.n + v.o.Batch - 1) / v.o.Batch }

// Examples is the number of samples an epoch when the task started.
func (v *viewBatches) Examples() int { return v.n }

// epochSeed is the shuffle seed of epoch e: another order every epoch, the
// same orders for the same seed.
func epochSeed(seed uint64, e int) uint64 {
	x := seed ^ (uint64(e)+1)*0x9e3779b97f4a7c15
	x ^= x >> 31
	x *= 0xbf58476d1ce4e5b9
	return x ^ x>>29
}

// Epoch implements feed.Batches. Starting an epoch closes the previous one.
func (v *viewBatches) Epoch(ctx context.Context, e int) feed.Iterator {
	if v.cur != nil {
		v.cur.Close()
	}
	ro := dataset.ReadOptions{BatchSize: v.o.Batch, Prefetch: v.o.Prefetch, Limit: v.o.Limit, Cache: v.o.Cache, Shuffle: v.o.Shuffle}
	if v.o.Shuffle {
		ro.Seed = epochSeed(v.o.Seed, e)
	}
	next, stop := iter.Pull2(v.ds.Batches(ctx, ro))
	v.cur = &viewIter{v: v, next: next, stop: stop}
	return v.cur
}

// batch returns the reused batch of n rows.
func (v *viewBatches) batch(n int) *feed.Batch {
	b := &v.full
	if n != v.o.Batch {
		b = &v.part
	}
	if *b == nil || (*b).Tensors[1].Shape()[0] != n {
		label := tensor.New(tensor.Int32, n)
		if v.o.Target != nil {
			label = tensor.New(tensor.Float32, append(tensor.Shape{n}, v.o.Target...)...)
		}
		*b = &feed.Batch{Tensors: []*tensor.Tensor{
			tensor.New(v.dt, append(tensor.Shape{n}, v.in[1:]...)...),
			label,
		}}
	}
	(*b).Size = n
	return *b
}

// fill converts sample s into row r of b; a sample unlike the first, or a
// label that is not a class, is a task.Permanent error naming the sample.
func (v *viewBatches) fill(b *feed.Batch, r int, s *dataset.Sample) error {
	p := v.info.Payload
	var kind string
	var shape []int
	if s.Tensor != nil {
		kind, shape = string(s.Tensor.DType), s.Tensor.Shape
	} else {
		kind, shape = "bytes", []int{len(s.Bytes)}
	}
	if kind != p.Kind || !slices.Equal(shape, p.Shape) {
		got := payload{Kind: kind, Shape: shape}
		return task.Permanent(fmt.Errorf("dataset %q mixes sample shapes: sample %q is %v, sample %q is %v", v.info.Name, s.Key, got, p.Key, p))
	}
	if err := v.fillLabel(b, r, s); err != nil {
		return err
	}
	x := b.Tensors[0]
	w := x.Shape()[1:].Size()
	if v.dt == tensor.Int32 {
		copy(x.Int32s()[r*w:(r+1)*w], s.Tensor.Int32)
		return nil
	}
	dst := x.Float32s()[r*w : (r+1)*w]
	switch kind {
	case "bytes":
		for i, c := range s.Bytes {
			dst[i] = v.lut[c]
		}
	case "uint8":
		for i, c := range s.Tensor.Uint8 {
			dst[i] = v.lut[c]
		}
	case "float32":
		copy(dst, s.Tensor.Float32)
	case "int32":
		for i, c := range s.Tensor.Int32 {
			dst[i] = float32(c)
		}
	}
	return nil
}

// fillLabel puts the label of s into row r of b: its class id, or its
// target as float32 (int32 and uint8 targets as their values, unscaled). A sample whose label is unlike the view's (a target
// where the view has none, or of another shape: inserted after the task
// started) is a task.Permanent error naming it.
func (v *viewBatches) fillLabel(b *feed.Batch, r int, s *dataset.Sample) error {
	want := v.info.Target
	got := payload{Key: s.Key}
	if s.Target != nil {
		got.Kind, got.Shape = string(s.Target.DType), s.Target.Shape
	}
	if want == nil && s.Target != nil || want != nil && (got.Kind != want.Kind || !slices.Equal(got.Shape, want.Shape)) {
		w := payload{Key: v.info.Payload.Key} // a sample of the view, which had no target
		if want != nil {
			w = *want
		}
		return task.Permanent(fmt.Errorf("dataset %q mixes labels: sample %q has %s, sample %q has %s", v.info.Name, s.Key, got.label(), w.Key, w.label()))
	}
	if want == nil {
		if s.Label < 0 || (v.o.Classes > 0 && s.Label >= v.o.Classes) {
			return task.Permanent(fmt.Errorf("dataset %q sample %q: label %d out of range, the network has %d classes", v.info.Name, s.Key, s.Label, v.o.Classes))
		}
		b.Tensors[1].Int32s()[r] = int32(s.Label)
		return nil
	}
	y := b.Tensors[1]
	w := y.Shape()[1:].Size()
	dst := y.Float32s()[r*w : (r+1)*w]
	t := s.Target
	switch t.DType {
	case dataset.Float32:
		copy(dst, t.Float32)
	case dataset.Int32:
		for i, c := range t.Int32 {
			dst[i] = float32(c)
		}
	case dataset.Uint8:
		for i, c := range t.Uint8 {
			dst[i] = float32(c)
		}
	}
	return nil
}

// viewIter is one epoch of a viewBatches.
type viewIter struct {
	v      *viewBatches
	next   func() ([]dataset.Sample, error, bool)
	stop   func()
	cur    *feed.Batch
	index  int
	err    error
	closed bool
}

// Next implements feed.Iterator.
func (it *viewIter) Next() bool {
	if it.closed {
		return false
	}
	samples, err, ok := it.next()
	if !ok || err != nil {
		it.err = err
		it.Close()
		return false
	}
	b := it.v.batch(len(samples))
	for r := range samples {
		if err := it.v.fill(b, r, &samples[r]); err != nil {
			it.err = err
			it.Close()
			return false
		}
	}
	b.Index = it.index
	it.index++
	it.cur = b
	return true
}

// Batch implements feed.Iterator.
func (it *viewIter) Batch() *feed.Batch { return it.cur }

// Err implements feed.Iterator.
func (it *viewIter) Err() error { return it.err }

// Close implements feed.Iterator: it stops the dataset module's reader.
func (it *viewIter) Close() {
	if it.closed {
		return
	}
	it.closed = true
	it.cur = nil
	it.stop()
}
