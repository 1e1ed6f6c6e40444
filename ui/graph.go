package ui

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"

	_ "image/gif"  // sample payloads in GIF
	_ "image/jpeg" // sample payloads in JPEG

	"github.com/tlgo/tl/store/dataset"
)

// graph is a plan's tasks laid out for an SVG: one column per depth (the
// longest chain of dependencies before the task), edges from a dependency to
// its dependant.
type graph struct {
	Width, Height int
	Nodes         []node
	Edges         []edge
}

type node struct {
	ID, Status, Title string
	X, Y, W, H        int
	TX, TY            int // the label's anchor
}

type edge struct {
	D string // the SVG path
}

const (
	nodeW, nodeH = 150, 34
	gapX, gapY   = 60, 16
)

func layout(ts []taskRow) *graph {
	depth := map[string]int{}
	byID := map[string]taskRow{}
	for _, t := range ts {
		byID[t.ID] = t
	}
	var visit func(id string, seen map[string]bool) int
	visit = func(id string, seen map[string]bool) int {
		if d, ok := depth[id]; ok {
			return d
		}
		if seen[id] { // a cycle: plans are checked, but draw what there is
			return 0
		}
		seen[id] = true
		d := 0
		for _, dep := range byID[id].Deps {
			if _, ok := byID[dep]; ok {
				d = max(d, visit(dep, seen)+1)
			}
		}
		depth[id] = d
		return d
	}
	rows := map[int]int{}
	g := &graph{}
	pos := map[string]node{}
	for _, t := range ts {
		d := visit(t.ID, map[string]bool{})
		n := node{ID: t.ID, Status: string(t.Status), X: 10 + d*(nodeW+gapX), Y: 10 + rows[d]*(nodeH+gapY), W: nodeW, H: nodeH}
		n.TX, n.TY = n.X+nodeW/2, n.Y+nodeH/2+5
		n.Title = fmt.Sprintf("%s: %s", t.ID, t.Status)
		if a := t.Attempts(); a != "" {
			n.Title += ", attempt " + a
		}
		if t.Error != "" {
			n.Title += "\n" + t.Error
		}
		rows[d]++
		pos[t.ID] = n
		g.Nodes = append(g.Nodes, n)
		g.Width = max(g.Width, n.X+nodeW+10)
		g.Height = max(g.Height, n.Y+nodeH+10)
	}
	for _, t := range ts {
		to := pos[t.ID]
		for _, dep := range t.Deps {
			from, ok := pos[dep]
			if !ok {
				continue
			}
			x1, y1 := from.X+from.W, from.Y+from.H/2
			x2, y2 := to.X, to.Y+to.H/2
			mx := (x1 + x2) / 2
			g.Edges = append(g.Edges, edge{D: fmt.Sprintf("M%d %d C%d %d %d %d %d %d", x1, y1, mx, y1, mx, y2, x2-4, y2)})
		}
	}
	return g
}

// maxThumbPixels bounds the images the thumbnails are drawn from.
const maxThumbPixels = 4096 * 4096

// writeThumb draws a sample as a PNG: a tensor of shape [H W], [H W C] or
// [C H W] with 1, 3 or 4 channels (uint8 as is, other types scaled from their
// range to 0-255), or an encoded image payload (PNG, JPEG, GIF), re-encoded.
func writeThumb(w io.Writer, s dataset.Sample) error {
	var img image.Image
	switch {
	case s.Tensor != nil:
		var err error
		if img, err = tensorImage(s.Tensor); err != nil {
			return fmt.Errorf("sample %q: %w", s.Key, err)
		}
	case s.Bytes != nil:
		cfg, _, err := image.DecodeConfig(bytes.NewReader(s.Bytes))
		if err != nil {
			return fmt.Errorf("sample %q: its payload is not an image this server decodes (PNG, JPEG, GIF): %w", s.Key, err)
		}
		if cfg.Width*cfg.Height > maxThumbPixels {
			return fmt.Errorf("sample %q: image of %dx%d is too big for a thumbnail", s.Key, cfg.Width, cfg.Height)
		}
		if img, _, err = image.Decode(bytes.NewReader(s.Bytes)); err != nil {
			return fmt.Errorf("sample %q: decode its image: %w", s.Key, err)
		}
	default:
		return fmt.Errorf("sample %q has no payload", s.Key)
	}
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("sample %q: encode PNG: %w", s.Key, err)
	}
	return nil
}

func tensorImage(t *dataset.Tensor) (image.Image, error) {
	sh := t.Shape
	h, w, c, chw := 0, 0, 1, false
	channels := func(n int) bool { return n == 1 || n == 3 || n == 4 }
	switch {
	case len(sh) == 2:
		h, w = sh[0], sh[1]
	// [H W C] unless [C H W] fits better: a channel count first and not last,
	// or first and smaller than the last.
	case len(sh) == 3 && channels(sh[0]) && (!channels(sh[2]) || sh[0] < sh[2]):
		c, h, w, chw = sh[0], sh[1], sh[2], true
	case len(sh) == 3 && channels(sh[2]):
		h, w, c = sh[0], sh[1], sh[2]
	default:
		return nil, fmt.Errorf("a tensor of shape %v is not an image (expected [H W], [H W C] or [C H W] with 1, 3 or 4 channels)", sh)
	}
	if h <= 0 || w <= 0 || h*w > maxThumbPixels {
		return nil, fmt.Errorf("a tensor of shape %v is not an image this server draws", sh)
	}
	n := h * w * c
	vals := make([]float64, n)
	scale := false
	switch t.DType {
	case dataset.Uint8:
		if len(t.Uint8) != n {
			return nil, fmt.Errorf("shape %v and %d values disagree", sh, len(t.Uint8))
		}
		for i, v := range t.Uint8 {
			vals[i] = float64(v)
		}
	case dataset.Int32:
		if len(t.Int32) != n {
			return nil, fmt.Errorf("shape %v and %d values disagree", sh, len(t.Int32))
		}
		for i, v := range t.Int32 {
			vals[i] = float64(v)
		}
		scale = true
	case dataset.Float32:
		if len(t.Float32) != n {
			return nil, fmt.Errorf("shape %v and %d values disagree", sh, len(t.Float32))
		}
		for i, v := range t.Float32 {
			vals[i] = float64(v)
		}
		scale = true
	default:
		return nil, fmt.Errorf("dtype %q", t.DType)
	}
	lo, hi := 0.0, 255.0
	if scale {
		lo, hi = math.Inf(1), math.Inf(-1)
		for _, v := range vals {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
		if lo >= 0 && hi <= 1 { // images in [0, 1]
			lo, hi = 0, 1
		}
		if hi <= lo {
			hi = lo + 1
		}
	}
	at := func(y, x, ch int) uint8 {
		i := (y*w+x)*c + ch
		if chw {
			i = (ch*h+y)*w + x
		}
		v := (vals[i] - lo) / (hi - lo) * 255
		if math.IsNaN(v) {
			return 0
		}
		return uint8(max(0, min(255, math.Round(v))))
	}
	if c == 1 {
		img := image.NewGray(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				img.SetGray(x, y, color.Gray{Y: at(y, x, 0)})
			}
		}
		return img, nil
	}
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			a := uint8(255)
			if c == 4 {
				a = at(y, x, 3)
			}
			img.SetNRGBA(x, y, color.NRGBA{R: at(y, x, 0), G: at(y, x, 1), B: at(y, x, 2), A: a})
		}
	}
	return img, nil
}
