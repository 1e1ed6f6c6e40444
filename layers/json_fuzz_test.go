package layers_test

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
)

// FromJSON never panics, whatever the bytes: it rebuilds or says why not.
func FuzzFromJSON(f *testing.F) {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 4, 4, 2)
	m := layers.Input(g, "m", -1, 4)
	net := layers.Conv2D(x, "conv", 3, 2, 2, layers.Same, layers.ReLU)
	net = layers.MaxPool2D(net, "pool", 2, 2)
	net = layers.BatchNorm(net, "bn")
	net = layers.Reshape(net, "seq", -1, 4, 3)
	net = layers.LSTM(net, "lstm", 5, layers.Mask(m), layers.Bidirectional())
	net = layers.TimeDistributed(net, "td", func(in *layers.Layer) *layers.Layer { return layers.Dense(in, "td/fc", 2) })
	net = layers.Flatten(net, "flat")
	net = layers.Dropout(net, "drop", 0.5)
	net = layers.Dense(net, "out", 3)
	data, err := net.MarshalJSON()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{"format":"tlgo-layers/1","layers":[{"name":"x","kind":"Input","config":{"shape":[-1,3],"dtype":"int32"}},{"name":"e","kind":"Embedding","inputs":[0],"config":{"vocab":5,"dim":2,"init":"uniform(-1, 1)"}}]}`))
	f.Add([]byte(`{"format":"tlgo-layers/1","layers":[{"name":"x","kind":"Input","config":{"shape":[-1,1000],"dtype":"float32"}},{"name":"d","kind":"Dense","inputs":[0],"config":{"units":1000000000}}]}`))
	f.Add([]byte(`{"format":"tlgo-layers/1","layers":[{"name":"x","kind":"Input","config":{"shape":[-1,2],"dtype":"float32"}},{"name":"r","kind":"Reshape","inputs":[0],"config":{"shape":[-1,4294967296,4294967296,4294967296]}}]}`))
	f.Add([]byte(`{"format":"tlgo-layers/1","layers":[{"name":"x","kind":"Input","config":{"shape":[-1,4,4,1],"dtype":"float32"}},{"name":"u","kind":"UpSampling2D","inputs":[0],"config":{"scale":[4294967296,2]}}]}`))
	f.Add([]byte(`{"format":"tlgo-layers/1","layers":[{"name":"x","kind":"Input","config":{"shape":[-1,1000000000,16],"dtype":"float32"}},{"name":"l","kind":"GRU","inputs":[0],"config":{"units":2}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Parameters are bounded (a 1000×10^9 Dense fails before it
		// allocates) and shapes too; a rebuild that still takes seconds is a
		// hang, reported with its input.
		tm := time.AfterFunc(10*time.Second, func() { panic(fmt.Sprintf("FromJSON hangs on %q", data)) })
		defer tm.Stop()
		net, err := layers.FromJSON(graph.New(1), data, layers.MaxParams(1<<16))
		if err != nil {
			if net != nil {
				t.Fatal("a network and an error")
			}
			return
		}
		if net == nil {
			t.Fatal("no network and no error")
		}
		params := 0
		for _, p := range net.AllParams() {
			params += p.Tensor().Size()
		}
		if params > 1<<16 {
			t.Fatalf("%d parameter values, over the limit of %d", params, 1<<16)
		}
		// What it built writes itself back as the same architecture.
		out, err := net.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON of a rebuilt network: %v", err)
		}
		again, err := layers.FromJSON(graph.New(2), out, layers.MaxParams(1<<16))
		if err != nil {
			t.Fatalf("FromJSON of what MarshalJSON wrote: %v\n%s", err, out)
		}
		out2, err := again.MarshalJSON()
		if err != nil || string(out2) != string(out) {
			t.Fatalf("architecture changed in a round trip (%v):\n%s\n%s", err, out, out2)
		}
	})
}

// FromJSON counts the parameters it creates against MaxParams (by default
// DefaultMaxParams): a few bytes of JSON cannot make it allocate gigabytes.
func TestFromJSONMaxParams(t *testing.T) {
	doc := func(units int) []byte {
		return []byte(`{"format":"tlgo-layers/1","layers":[{"name":"x","kind":"Input","config":{"shape":[-1,1000],"dtype":"float32"}},` +
			`{"name":"d","kind":"Dense","inputs":[0],"config":{"units":` + strconv.Itoa(units) + `}}]}`)
	}
	if _, err := layers.FromJSON(graph.New(1), doc(3)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		units int
		opts  []layers.LoadOption
		want  string
	}{
		{2, []layers.LoadOption{layers.MaxParams(1000)}, "parameter d/W of shape [1000 2] would bring the network's parameters to 2000 values, over the limit of 1000"},
		{2_000_000, nil, "over the limit of 1073741824"},
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := layers.FromJSON(graph.New(1), doc(c.units), c.opts...)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, layers.ErrBadConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%d units: %v; want %q", c.units, err, c.want)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 10<<20 {
			t.Errorf("%d units: allocated %d bytes", c.units, n)
		}
	}
}

// Shapes read from JSON cannot overflow: a Reshape to [-1, 2^32, 2^32, 2^32]
// (2^96 values, which an int product wraps to 0) was accepted for an input of
// 2 values; an Input of 2^32 × 2^32 × 2^32 failed only later, with a confusing
// "size 0" from the graph.
func TestFromJSONShapeOverflow(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{`{"format":"tlgo-layers/1","layers":[{"name":"x","kind":"Input","config":{"shape":[-1,2],"dtype":"float32"}},` +
			`{"name":"r","kind":"Reshape","inputs":[0],"config":{"shape":[-1,4294967296,4294967296,4294967296]}}]}`, `Reshape "r"`},
		{`{"format":"tlgo-layers/1","layers":[{"name":"x","kind":"Input","config":{"shape":[4294967296,4294967296,4294967296],"dtype":"float32"}},` +
			`{"name":"f","kind":"Flatten","inputs":[0],"config":{}}]}`, `Input "x"`},
	} {
		_, err := layers.FromJSON(graph.New(1), []byte(c.doc))
		if !errors.Is(err, layers.ErrBadConfig) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "holds more than 1099511627776 values") {
			t.Errorf("FromJSON = %v; want a bad config of %s saying the shape is too big", err, c.want)
		}
	}
}

// Numbers in an architecture file cannot make FromJSON build an unbounded
// graph: an UpSampling2D of scale 2^32 repeated its input 2^32 times (the
// process died out of memory), an LSTM over 10^9 steps unrolled 10^9 steps,
// and strides or dilations of 2^62 overflowed shape inference into empty or
// unknown dimensions.
func TestFromJSONBoundedGraphs(t *testing.T) {
	const pre = `{"format":"tlgo-layers/1","layers":[{"name":"x","kind":"Input","config":{"shape":[-1,4,4,1],"dtype":"float32"}},`
	for _, c := range []struct{ layers, want string }{
		{`{"name":"u","kind":"UpSampling2D","inputs":[0],"config":{"scale":[4294967296,4294967296]}}]}`, "scale [4294967296 4294967296]: factors from 1 to 1024"},
		{`{"name":"r","kind":"Reshape","inputs":[0],"config":{"shape":[-1,1000000000,16]}},{"name":"l","kind":"LSTM","inputs":[1],"config":{"units":2}}]}`, "1000000000 steps, at most 65536"},
		{`{"name":"c","kind":"Conv2D","inputs":[0],"config":{"filters":1,"kernel":[3,3],"strides":[9223372036854775807,1],"dilations":[1,1],"padding":"SAME"}}]}`, "at most 65536 each"},
		{`{"name":"c","kind":"Conv2D","inputs":[0],"config":{"filters":1,"kernel":[3,3],"strides":[1,1],"dilations":[4611686018427387904,1],"padding":"VALID"}}]}`, "at most 65536 each"},
		{`{"name":"c","kind":"MaxPool2D","inputs":[0],"config":{"size":[2,2],"strides":[9223372036854775807,1],"padding":"SAME"}}]}`, "at most 65536 each"},
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := layers.FromJSON(graph.New(1), []byte(pre+c.layers))
		runtime.ReadMemStats(&after)
		if !errors.Is(err, layers.ErrBadConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("FromJSON(%s) = %v; want %q", c.layers, err, c.want)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 10<<20 {
			t.Errorf("FromJSON(%s) allocated %d bytes", c.layers, n)
		}
	}
}
