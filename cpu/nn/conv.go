package nn

import (
	"fmt"
	"sync"

	"github.com/tlgo/tl/cpu/gemm"
)

// Conv is the geometry of a 2-D window sweep over NHWC images: a convolution by
// a KH×KW×C×OC filter, or a pooling (OC == C).
type Conv struct {
	N, H, W, C int // input batch, height, width, channels
	KH, KW, OC int // window height and width, output channels
	SH, SW     int // strides
	DH, DW     int // dilations
	PT, PL     int // padding before the image: top rows, left columns
	OH, OW     int // output height and width
}

// OutSize returns the output size and the padding before the input along one
// axis, with TensorFlow's rules (see the package documentation). It fails when
// the window, dilated, does not fit a VALID input, or a size is not positive.
func OutSize(in, k, stride, dilation int, same bool) (out, padBefore int, err error) {
	if in < 0 || k < 1 || stride < 1 || dilation < 1 {
		return 0, 0, fmt.Errorf("nn: bad window: input %d, window %d, stride %d, dilation %d", in, k, stride, dilation)
	}
	span := (k-1)*dilation + 1
	if same {
		out = (in + stride - 1) / stride
		total := max((out-1)*stride+span-in, 0)
		return out, total / 2, nil
	}
	if in < span {
		return 0, 0, fmt.Errorf("nn: VALID window of %d (dilated %d) does not fit an input of %d", k, span, in)
	}
	return (in-span)/stride + 1, 0, nil
}

// ImageSize is the number of elements of one input image, H·W·C.
func (g *Conv) ImageSize() int { return g.H * g.W * g.C }

// OutImageSize is the number of elements of one output image, OH·OW·OC.
func (g *Conv) OutImageSize() int { return g.OH * g.OW * g.OC }

// Rows is the number of output pixels of one image, OH·OW: the rows of its
// im2col matrix.
func (g *Conv) Rows() int { return g.OH * g.OW }

// K is the length of one im2col row, KH·KW·C: the inner dimension of the product.
func (g *Conv) K() int { return g.KH * g.KW * g.C }

// Pointwise reports whether the convolution is 1×1 with stride 1 and no padding:
// its im2col matrix is the input itself.
func (g *Conv) Pointwise() bool {
	return g.KH == 1 && g.KW == 1 && g.SH == 1 && g.SW == 1 && g.PT == 0 && g.PL == 0 &&
		g.OH == g.H && g.OW == g.W
}

// insideCols returns the output columns [lo, hi) whose windows lie wholly
// inside the image along its width. For those, each tap of the window reads
// input pixels at a stride of SW·C along a run of output columns, which
// im2col copies and pooling reduces in one call for the whole run instead of
// pixel by pixel.
func (g *Conv) insideCols() (lo, hi int) {
	lo = min((g.PL+g.SW-1)/g.SW, g.OW)
	hi = lo
	if last := g.W - ((g.KW-1)*g.DW + 1) + g.PL; last >= 0 {
		hi = max(lo, min(last/g.SW+1, g.OW))
	}
	return lo, hi
}

// Im2col writes the im2col matrix of one image x (H·W·C) into col (Rows()×K()):
// row oh·OW+ow holds the window of output pixel (oh, ow) in (kh, kw, c) order,
// zeros where the window hangs over the padding. It goes image row by image
// row: for each (oh, kh), the windows of the output columns that lie wholly
// inside the image are runs of KW·C floats at a stride of SW·C, copied in one
// call (CopyRuns); only the columns at the padded edges go channel by channel.
func Im2col(g *Conv, x, col []float32) {
	C, K := g.C, g.K()
	rowW := g.W * C
	run := g.KW * C
	// Output columns [lo, hi) have windows inside the image: contiguous
	// runs when the window is not dilated.
	lo, hi := 0, 0
	if g.DW == 1 {
		lo, hi = g.insideCols()
	}
	for oh := 0; oh < g.OH; oh++ {
		ih0 := oh*g.SH - g.PT
		rows := col[oh*g.OW*K:][:g.OW*K]
		for kh := 0; kh < g.KH; kh++ {
			ih := ih0 + kh*g.DH
			if ih < 0 || ih >= g.H {
				for ow := 0; ow < g.OW; ow++ {
					clear(rows[ow*K+kh*run:][:run])
				}
				continue
			}
			xr := x[ih*rowW:][:rowW]
			edge := func(ow int) {
				iw0 := ow*g.SW - g.PL
				dst := rows[ow*K+kh*run:][:run]
				if g.DW == 1 {
					// The columns inside the image are one run.
					k0, k1 := min(max(-iw0, 0), g.KW), min(max(g.W-iw0, 0), g.KW)
					k1 = max(k0, k1)
					clear(dst[:k0*C])
					copy(dst[k0*C:k1*C], xr[(iw0+k0)*C:])
					clear(dst[k1*C:])
					return
				}
				for kw := 0; kw < g.KW; kw++ {
					iw := iw0 + kw*g.DW
					d := dst[kw*C:][:C]
					if iw < 0 || iw >= g.W {
						clear(d)
					} else {
						copy(d, xr[iw*C:][:C])
					}
				}
			}
			for ow := 0; ow < lo; ow++ {
				edge(ow)
			}
			if hi > lo {
				CopyRuns(rows[lo*K+kh*run:], K, xr[(lo*g.SW-g.PL)*C:], g.SW*C, hi-lo, run)
			}
			for ow := hi; ow < g.OW; ow++ {
				edge(ow)
			}
		}
	}
}

// Col2im adds the im2col-shaped matrix col (Rows()×K()) back into the image dx
// (H·W·C): the adjoint of Im2col. dx is not cleared first.
func Col2im(g *Conv, col, dx []float32) {
	C, K := g.C, g.K()
	rowW := g.W * C
	run := g.KW * C
	for oh := 0; oh < g.OH; oh++ {
		ih0 := oh*g.SH - g.PT
		for ow := 0; ow < g.OW; ow++ {
			iw0 := ow*g.SW - g.PL
			row := col[(oh*g.OW+ow)*K:][:K]
			for kh := 0; kh < g.KH; kh++ {
				ih := ih0 + kh*g.DH
				if ih < 0 || ih >= g.H {
					continue
				}
				src := row[kh*run:][:run]
				xr := dx[ih*rowW:][:rowW]
				if g.DW == 1 && iw0 >= 0 && iw0+g.KW <= g.W {
					Add(xr[iw0*C:][:run], src)
					continue
				}
				for kw := 0; kw < g.KW; kw++ {
					iw := iw0 + kw*g.DW
					if iw >= 0 && iw < g.W {
						Add(xr[iw*C:][:C], src[kw*C:][:C])
					}
				}
			}
		}
	}
}

var (
	serialOnce sync.Once
	serial     *gemm.Engine
)

// Gemm returns a single-threaded engine with the default engine's kernel, for
// products that kernels run in parallel themselves (one per image or chunk of
// images, on each core). It is created on first use and shared: an Engine is safe
// for concurrent use, and sharing it keeps one set of packing buffers per
// concurrent product instead of one per op.
func Gemm() *gemm.Engine {
	serialOnce.Do(func() {
		e, err := gemm.NewEngine(gemm.Options{Threads: 1, Backend: gemm.Native, Kernel: gemm.Default().Kernel()})
		if err != nil {
			e, _ = gemm.NewEngine(gemm.Options{Threads: 1, Backend: gemm.Native})
		}
		serial = e
	})
	return serial
}

// InputGradConv returns the convolution whose forward pass is g's input
// gradient, when there is one: at stride 1, the gradient with respect to the
// input is the convolution of the output gradient (OH×OW×OC) by the filter
// reversed in space with its channels swapped (FlipFilter), padded by
// (KH-1)·DH - PT rows before (and as many columns), with the input's size as
// its output. Running it forward (im2col and a product that reads A in place)
// beats a product into an im2col-shaped matrix that col2im adds back.
func (g *Conv) InputGradConv() (Conv, bool) {
	t := Conv{
		N: g.N, H: g.OH, W: g.OW, C: g.OC,
		KH: g.KH, KW: g.KW, OC: g.C,
		SH: 1, SW: 1, DH: g.DH, DW: g.DW,
		PT: (g.KH-1)*g.DH - g.PT, PL: (g.KW-1)*g.DW - g.PL,
		OH: g.H, OW: g.W,
	}
	return t, g.SH == 1 && g.SW == 1 && t.PT >= 0 && t.PL >= 0
}

// FlipFilter writes into wf (KH·KW·OC·C floats) the filter of g.InputGradConv()
// from g's filter w (KH·KW·C·OC): wf[kh][kw][oc][c] = w[KH-1-kh][KW-1-kw][c][oc].
func FlipFilter(g *Conv, w, wf []float32) {
	C, OC := g.C, g.OC
	taps := g.KH * g.KW
	for t := 0; t < taps; t++ {
		src := w[t*C*OC:][:C*OC]
		dst := wf[(taps-1-t)*C*OC:][:C*OC]
		for c := 0; c < C; c++ {
			row := src[c*OC:][:OC]
			for oc, v := range row {
				dst[oc*C+c] = v
			}
		}
	}
}
