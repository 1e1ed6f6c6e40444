package bench

import (
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Row is one line of the table: a workload in a mode, measured for each
// implementation.
type Row struct {
	Workload string  `json:"workload"`
	Mode     string  `json:"mode"`
	Unit     string  `json:"unit"`
	Threads  int     `json:"threads"`
	Layers   float64 `json:"layers"`            // our layers API, median items/s
	Graph    float64 `json:"graph"`             // directly on the graph
	Peer     float64 `json:"pytorch,omitempty"` // PyTorch peer, median items/s
	PeerNote string  `json:"pytorch_note,omitempty"`
	// PeerConfig is the configuration the peer reported it ran under, and
	// PeerSweep the figures of the sweep that chose it (tlbench --peer-sweep).
	PeerConfig *PeerConfig `json:"pytorch_config,omitempty"`
	PeerSweep  []PeerTrial `json:"pytorch_sweep,omitempty"`
	// GFLOP per item (forward+backward when training), for the fraction of peak.
	GFLOPPerItem float64   `json:"gflop_per_item,omitempty"`
	LayersRuns   []float64 `json:"layers_windows,omitempty"`
	GraphRuns    []float64 `json:"graph_windows,omitempty"`
	PeerRuns     []float64 `json:"pytorch_windows,omitempty"`
	// PairedRuns are the layers step's time over the graph step's, per window of
	// a step-by-step alternation (MeasurePaired); when present they give the
	// overhead.
	PairedRuns []float64 `json:"paired_windows,omitempty"`
	// AltUnit and AltPerItem give the rates in a second unit as well (word2vec:
	// corpus words/s, half its training pairs/s); WriteMarkdown adds a line.
	AltUnit    string  `json:"alt_unit,omitempty"`
	AltPerItem float64 `json:"alt_per_item,omitempty"`
	// Rounds is the number of interleaved rounds the windows come from, in
	// order, the same number of windows each (tlbench --rounds).
	Rounds int `json:"rounds,omitempty"`
}

// Overhead is the layers API's cost relative to the graph, in percent: from the
// paired measurement when there is one, else from the two medians.
func (r Row) Overhead() float64 {
	if len(r.PairedRuns) > 0 {
		return (Median(r.PairedRuns) - 1) * 100
	}
	if r.Graph == 0 || r.Layers == 0 {
		return 0
	}
	return (r.Graph/r.Layers - 1) * 100
}

// Ratio is our best figure over PyTorch's (0 without a peer).
func (r Row) Ratio() float64 {
	if r.Peer == 0 {
		return 0
	}
	return max(r.Layers, r.Graph) / r.Peer
}

// RoundRatios is, per round of interleaving, our better API's median over the
// peer's median in that round: ratios taken in the same minutes of the
// machine. Nil with fewer than two rounds, without a peer, or when a round
// lacks windows (a peer that failed).
func (r Row) RoundRatios() []float64 {
	if r.Rounds < 2 || len(r.PeerRuns) == 0 {
		return nil
	}
	round := func(runs []float64, i int) (float64, bool) {
		if len(runs) == 0 || len(runs)%r.Rounds != 0 {
			return 0, false
		}
		n := len(runs) / r.Rounds
		return Median(runs[i*n : (i+1)*n]), true
	}
	out := make([]float64, r.Rounds)
	for i := range out {
		p, ok := round(r.PeerRuns, i)
		if !ok || p <= 0 {
			return nil
		}
		g, okG := round(r.GraphRuns, i)
		l, okL := round(r.LayersRuns, i)
		if !okG && !okL {
			return nil
		}
		out[i] = max(g, l) / p
	}
	return out
}

// WriteJSON writes one JSON object per row.
// With a peer, each object also carries ratio, as the table's ratio column
// (with several rounds the median of the per-round ratios), and round_ratios.
func WriteJSON(w io.Writer, rows []Row) error {
	enc := json.NewEncoder(w)
	for _, r := range rows {
		out := struct {
			Row
			Ratio       float64   `json:"ratio,omitempty"`
			RoundRatios []float64 `json:"round_ratios,omitempty"`
		}{Row: r, Ratio: r.Ratio(), RoundRatios: r.RoundRatios()}
		if out.RoundRatios != nil {
			out.Ratio = Median(out.RoundRatios)
		}
		if err := enc.Encode(out); err != nil {
			return err
		}
	}
	return nil
}

// WriteMarkdown writes the table. peakGFLOPS (0: unknown) adds the fraction of
// peak for rows that know their FLOPs. With several rounds the ratio is the
// median of the per-round ratios, each round's listed beside it.
func WriteMarkdown(w io.Writer, rows []Row, peakGFLOPS float64) {
	fmt.Fprintln(w, "| workload | mode | unit | tl layers | tl graph | layers overhead | PyTorch | ratio | % of peak |")
	fmt.Fprintln(w, "|---|---|---|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		peer, ratio, peak := "—", "—", "—"
		if r.Peer > 0 {
			peer = fmtRate(r.Peer)
			ratio = fmt.Sprintf("%.2fx", r.Ratio())
			if rr := r.RoundRatios(); rr != nil {
				each := make([]string, len(rr))
				for i, x := range rr {
					each[i] = fmt.Sprintf("%.2f", x)
				}
				ratio = fmt.Sprintf("%.2fx (rounds %s)", Median(rr), strings.Join(each, ", "))
			}
		} else if r.PeerNote != "" {
			peer = r.PeerNote
		}
		if r.GFLOPPerItem > 0 && peakGFLOPS > 0 {
			peak = fmt.Sprintf("%.0f%%", 100*max(r.Layers, r.Graph)*r.GFLOPPerItem/peakGFLOPS)
		}
		over := "—"
		if r.Layers > 0 && r.Graph > 0 {
			over = fmt.Sprintf("%+.1f%%", r.Overhead())
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.Workload, r.Mode, r.Unit, fmtRate(r.Layers), fmtRate(r.Graph), over, peer, ratio, peak)
	}
	for _, r := range rows {
		if r.AltUnit == "" || r.AltPerItem <= 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s %s in %s: tl layers %s, tl graph %s, PyTorch %s.", r.Workload, r.Mode, r.AltUnit,
			fmtRate(r.Layers*r.AltPerItem), fmtRate(r.Graph*r.AltPerItem), fmtRate(r.Peer*r.AltPerItem))
	}
	for _, r := range rows {
		if r.PeerConfig != nil {
			fmt.Fprintf(w, "\nPyTorch configuration: %s %s: %v%s.", r.Workload, r.Mode, *r.PeerConfig, sweptNote(r.PeerSweep, r.Unit))
		}
	}
	fmt.Fprintln(w)
}

// sweptNote lists a sweep's figures: " (swept, words/s: 1 thread unset 4,012;
// 2 threads avx512 6,130)", or "" without a sweep.
func sweptNote(trials []PeerTrial, unit string) string {
	if len(trials) == 0 {
		return ""
	}
	parts := make([]string, len(trials))
	for i, t := range trials {
		parts[i] = fmt.Sprintf("%s %s %s", plural(t.Threads, "thread"), t.CapabilityName(), fmtRate(t.Median))
	}
	return fmt.Sprintf(" (swept, %s: %s)", unit, strings.Join(parts, "; "))
}

func fmtRate(v float64) string {
	if v == 0 {
		return "—"
	}
	if v >= 1000 {
		s := fmt.Sprintf("%.0f", v)
		var b strings.Builder
		for i, c := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				b.WriteByte(',')
			}
			b.WriteRune(c)
		}
		return b.String()
	}
	return fmt.Sprintf("%.1f", v)
}

// Plot writes a PNG bar chart: for each row, our figure and PyTorch's as a ratio
// to PyTorch (1.0 = parity), so rows with different units share one axis.
func Plot(path string, rows []Row, title string) error {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = "throughput relative to PyTorch (same run)"
	var ours, graphV, peer plotter.Values
	var names []string
	for _, r := range rows {
		if r.Peer == 0 {
			continue
		}
		names = append(names, r.Workload+" "+r.Mode)
		ours = append(ours, r.Layers/r.Peer)
		graphV = append(graphV, r.Graph/r.Peer)
		peer = append(peer, 1)
	}
	if len(names) == 0 {
		// No peer: absolute figures, normalised to the graph column.
		for _, r := range rows {
			names = append(names, r.Workload+" "+r.Mode)
			ours = append(ours, r.Layers/max(r.Graph, 1e-9))
			graphV = append(graphV, 1)
		}
		p.Y.Label.Text = "layers API relative to the graph"
	}
	w := vg.Points(14)
	add := func(v plotter.Values, off int, c color.Color, label string) error {
		if len(v) == 0 {
			return nil
		}
		b, err := plotter.NewBarChart(v, w)
		if err != nil {
			return err
		}
		b.Offset = vg.Length(off) * w
		b.Color = c
		b.LineStyle.Width = 0
		p.Add(b)
		p.Legend.Add(label, b)
		return nil
	}
	if err := add(ours, -1, color.RGBA{R: 31, G: 119, B: 180, A: 255}, "tl (layers)"); err != nil {
		return err
	}
	if err := add(graphV, 0, color.RGBA{R: 44, G: 160, B: 44, A: 255}, "tl (graph)"); err != nil {
		return err
	}
	if err := add(peer, 1, color.RGBA{R: 255, G: 127, B: 14, A: 255}, "PyTorch"); err != nil {
		return err
	}
	top := 1.0
	for _, v := range [][]float64{ours, graphV, peer} {
		for _, x := range v {
			top = max(top, x)
		}
	}
	p.Y.Min, p.Y.Max = 0, top*1.3 // room for the legend above the bars
	p.Legend.Top = true
	p.Legend.Left = true
	p.NominalX(names...)
	p.X.Tick.Label.Rotation = 0.4
	p.X.Tick.Label.XAlign = -0.9
	return p.Save(vg.Length(60+30*len(names))*vg.Millimeter, 110*vg.Millimeter, path)
}
