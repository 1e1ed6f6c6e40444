package layers_test

import (
	"regexp"
	"testing"

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
	f.Fuzz(func(t *testing.T, data []byte) {
		// Sizes of hundreds make slow graphs and big parameters, which is
		// not what this looks for.
		if regexp.MustCompile(`(^|[^0-9.])[0-9]{3}|[eE][+0-9]`).Match(data) {
			return
		}
		net, err := layers.FromJSON(graph.New(1), data)
		if err == nil && net == nil {
			t.Fatal("no network and no error")
		}
	})
}
