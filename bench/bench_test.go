package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Every workload builds with both APIs and runs steps without error, so tlbench
// cannot rot unnoticed.
func TestWorkloadsRun(t *testing.T) {
	for _, w := range Workloads() {
		for _, api := range []API{Graph, Layers} {
			for _, mode := range []string{"train", "infer"} {
				if testing.Short() && w.Name == "ptb-medium" {
					continue
				}
				s, err := w.Build(api, mode, nil)
				if err != nil {
					t.Fatalf("%s %s %s: %v", w.Name, api, mode, err)
				}
				for i := 0; i < 2; i++ {
					if err := s.Run(); err != nil {
						t.Fatalf("%s %s %s step %d: %v", w.Name, api, mode, i, err)
					}
				}
				s.Close()
			}
		}
	}
}

// The work counted per item, for the % of peak column, is the figures worked
// out by hand: the CNN's 105.3 MFLOP an image trained (issue 19's count: no
// input gradient for the first convolution), PTB's 2·(2·2H·4H + H·V) a word.
func TestGFLOPPerItem(t *testing.T) {
	want := map[string]map[string]float64{
		"cifar10-cnn-nolrn": {"train": 0.10530, "infer": 0.03694},
		"ptb-small":         {"train": 0.01584, "infer": 0.00528},
		"ptb-medium":        {"train": 0.07956, "infer": 0.02652},
	}
	seen := 0
	for _, w := range Workloads() {
		for mode, gf := range want[w.Name] {
			seen++
			if got := w.GFLOPPerItem[mode]; got < gf*0.999 || got > gf*1.001 {
				t.Errorf("%s %s: %.5f GFLOP an item, want %.5f", w.Name, mode, got, gf)
			}
		}
	}
	if seen != 6 {
		t.Errorf("checked %d figures, want 6: a workload was renamed", seen)
	}
}

func TestMeasureAndMedian(t *testing.T) {
	if got := Median([]float64{5, 1, 3}); got != 3 {
		t.Errorf("Median(5,1,3) = %v", got)
	}
	if got := Median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("Median(4,1,3,2) = %v", got)
	}
	n := 0
	rates, err := Measure(context.Background(), stepFunc(func() error { n++; time.Sleep(time.Millisecond); return nil }), 10,
		Timing{Window: 20 * time.Millisecond, Windows: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(rates) != 3 || n < 6 {
		t.Fatalf("%d windows, %d steps", len(rates), n)
	}
	for _, r := range rates {
		// At most one step per millisecond, 10 items a step.
		if r <= 0 || r > 10000 {
			t.Errorf("rate %v items/s is impossible for 1 ms steps of 10 items", r)
		}
	}
}

type stepFunc func() error

func (f stepFunc) Run() error { return f() }
func (f stepFunc) Close()     {}

func TestReport(t *testing.T) {
	rows := []Row{
		{Workload: "cifar10-cnn", Mode: "train", Unit: "images/s", Layers: 990, Graph: 1000, Peer: 500, GFLOPPerItem: 0.1},
		{Workload: "word2vec", Mode: "train", Unit: "pairs/s", Layers: 400000, Graph: 410000, Peer: 100000, AltUnit: "corpus words/s", AltPerItem: 0.5},
	}
	var b bytes.Buffer
	WriteMarkdown(&b, rows, 200)
	out := b.String()
	for _, want := range []string{"| cifar10-cnn | train | images/s | 990.0 | 1,000 |", "+1.0%", "500.0", "2.00x", "50%", "400,000", "410,000",
		"word2vec train in corpus words/s: tl layers 200,000, tl graph 205,000, PyTorch 50,000."} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	if err := WriteJSON(&b, rows); err != nil || strings.Count(b.String(), "\n") != 2 {
		t.Fatalf("JSON lines: %v %q", err, b.String())
	}
	png := filepath.Join(t.TempDir(), "t.png")
	if err := Plot(png, rows, "test"); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(png)
	if err != nil || !bytes.HasPrefix(data, []byte("\x89PNG")) {
		t.Fatalf("plot is not a PNG: %v", err)
	}
}

// With several rounds, the ratio is the median of each round's ratio (our
// better API's median in the round over the peer's), each listed; a round
// without the peer's windows falls back to the ratio of the medians.
func TestRoundRatios(t *testing.T) {
	r := Row{Workload: "ptb-small", Mode: "train", Unit: "words/s", Rounds: 3,
		GraphRuns:  []float64{100, 110, 200, 210, 90, 95},
		LayersRuns: []float64{105, 105, 190, 190, 100, 100},
		PeerRuns:   []float64{50, 50, 100, 100, 100, 100}}
	r.Graph, r.Layers, r.Peer = Median(r.GraphRuns), Median(r.LayersRuns), Median(r.PeerRuns)
	got := r.RoundRatios()
	want := []float64{2.1, 2.05, 1.0}
	if len(got) != 3 {
		t.Fatalf("round ratios %v, want %v", got, want)
	}
	for i := range want {
		if d := got[i] - want[i]; d > 1e-9 || d < -1e-9 {
			t.Fatalf("round ratios %v, want %v", got, want)
		}
	}
	var b bytes.Buffer
	WriteMarkdown(&b, []Row{r}, 0)
	if !strings.Contains(b.String(), "2.05x (rounds 2.10, 2.05, 1.00)") {
		t.Errorf("table lacks the per-round ratios:\n%s", b.String())
	}
	b.Reset()
	if err := WriteJSON(&b, []Row{r}); err != nil {
		t.Fatal(err)
	}
	var j struct {
		Ratio       float64   `json:"ratio"`
		RoundRatios []float64 `json:"round_ratios"`
		Workload    string    `json:"workload"`
	}
	if err := json.Unmarshal(b.Bytes(), &j); err != nil || j.Ratio != got[1] || len(j.RoundRatios) != 3 || j.Workload != "ptb-small" {
		t.Errorf("JSON %s: want ratio %v (the median round), three round ratios and the row's fields (%v)", b.String(), got[1], err)
	}
	r.PeerRuns = r.PeerRuns[:4] // the peer failed in a round
	if rr := r.RoundRatios(); rr != nil {
		t.Errorf("round ratios with a round missing: %v", rr)
	}
	if (Row{Rounds: 1, PeerRuns: []float64{1}, GraphRuns: []float64{2}}).RoundRatios() != nil {
		t.Error("round ratios of a single round")
	}
}

// MeasurePaired reports b's step time over a's, per window, with the steps
// alternated.
func TestMeasurePaired(t *testing.T) {
	var na, nb int
	a := stepFunc(func() error { na++; time.Sleep(time.Millisecond); return nil })
	b := stepFunc(func() error { nb++; time.Sleep(3 * time.Millisecond); return nil })
	ratios, err := MeasurePaired(context.Background(), a, b, Timing{Window: 40 * time.Millisecond, Windows: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(ratios) != 3 || na != nb {
		t.Fatalf("%d windows, %d a steps and %d b steps: want 3 windows and as many of each", len(ratios), na, nb)
	}
	if r := Median(ratios); r < 1.5 || r > 6 {
		t.Errorf("b (3 ms) over a (1 ms) = %.2f, want about 3", r)
	}
	if r := (Row{PairedRuns: []float64{1.02, 0.99, 1.01}}).Overhead(); r < 0.99 || r > 1.01 {
		t.Errorf("Overhead from paired runs = %.3f%%, want 1%%", r)
	}
}
