package nn

import "github.com/tlgo/tl/cpu/gemm"

// A convolution without dilation runs without its im2col matrix. The window
// of output pixel (oh, ow) is, for each filter row kh, a run of KW·C floats
// of the (padded) image's row oh·SH+kh starting at pixel ow·SW; the windows
// of an output row's pixels are those runs at a stride of SW·C floats, and
// the runs of one window are an image row apart. So an output row is one
// product gemm.SgemmGroupedRows reads from the image in place (pixels as
// rows, filter rows as groups of the inner dimension), and a filter gradient
// is, per filter row, one gemm.SgemmGrouped (the window row's floats as rows,
// the output pixels as the inner dimension, an output row a group). What
// im2col wrote and the products read again (KH·KW·C floats per output pixel,
// 25 times the image for a 5×5 filter) is gone; a padded image is copied
// once instead, where the windows hang over the edge.

// implicitMinRun is the shallowest window (KH·KW·C floats) a forward
// convolution runs without im2col, and the shallowest window row (KW·C) a
// filter gradient does.
const implicitMinRun = 64

// implicitMinRow is the narrowest output row run without im2col: each row is
// one product of OW rows, and below the kernel's 12 and 14 rows it is packed
// and runs on part of a tile (DCGAN's 7-wide rows ran no faster so).
const implicitMinRow = 12

// ImplicitOK reports whether the convolution runs without an im2col matrix
// (ConvImplicit) on e: no dilation, windows of at least 64 floats, output
// rows of at least 12 pixels, and kernels that read the inner dimension in
// groups.
func (g *Conv) ImplicitOK(e *gemm.Engine) bool {
	return e.Grouped() && g.DH == 1 && g.DW == 1 && g.KH*g.KW*g.C >= implicitMinRun && g.OW >= implicitMinRow && g.OH > 0
}

// implicitSize is the padded image ConvImplicit reads, in pixels: every
// window inside it. copied says whether it differs from the image itself.
func (g *Conv) implicitSize() (hp, wp int, copied bool) {
	hp, wp = (g.OH-1)*g.SH+g.KH, (g.OW-1)*g.SW+g.KW
	copied = g.PT > 0 || g.PL > 0 || hp > g.H || wp > g.W
	if !copied {
		wp = g.W // read in place: rows at the image's stride
	}
	return hp, wp, copied
}

// ImplicitPad is the floats of scratch ConvImplicit needs for the padded
// image (0 when it reads the image in place).
func (g *Conv) ImplicitPad() int {
	hp, wp, copied := g.implicitSize()
	if !copied {
		return 0
	}
	return hp * wp * g.C
}

// PackFilter packs the filter w (KH·KW·C × OC) for ConvImplicit on e's
// kernels, into pb (its memory reused by the next packing).
func PackFilter(e *gemm.Engine, g *Conv, w []float32, pb *gemm.PackedB) {
	e.PackBDeep(pb, g.K(), g.OC, w, g.OC)
}

// ConvImplicit writes into y (OH·OW·OC) the convolution of the image x
// (H·W·C) by the filter packed by PackFilter into pb, without an im2col
// matrix. pad holds ImplicitPad floats and must be zero outside the image's
// pixels when first used (clear it once: ConvImplicit writes only those). It
// runs on the calling goroutine.
func ConvImplicit(e *gemm.Engine, g *Conv, x, pad []float32, pb *gemm.PackedB, y []float32) {
	hp, wp, copied := g.implicitSize()
	src := x
	if copied {
		// The image's pixels into the padded one, at (PT, PL) on.
		cols := min(g.W, wp-g.PL)
		for ih := range min(g.H, hp-g.PT) {
			copy(pad[((ih+g.PT)*wp+g.PL)*g.C:][:cols*g.C], x[ih*g.W*g.C:])
		}
		src = pad[:hp*wp*g.C]
	}
	rowY, rowX := g.OW*g.OC, wp*g.C
	for oh := range g.OH {
		e.SgemmGroupedRows(g.OW, src[oh*g.SH*rowX:], g.SW*g.C, g.KH, g.KW*g.C, rowX, pb, 0, y[oh*rowY:][:rowY], g.OC)
	}
}

// filterPadSize is the padded image ConvFilterImplicit copies the image
// into: every window inside it.
func (g *Conv) filterPadSize() (hp, wp int) {
	return (g.OH-1)*g.SH + g.KH, (g.OW-1)*g.SW + g.KW
}

// ImplicitFilterOK reports whether the filter gradient runs without an
// im2col matrix (ConvFilterImplicit) on e: no dilation, window rows of at
// least 64 floats, an image's output gradient, 32 channels of it (a packed
// panel), small enough to stay in cache (4096 pixels), and kernels that read
// the inner dimension in groups.
func (g *Conv) ImplicitFilterOK(e *gemm.Engine) bool {
	return e.Grouped() && g.DH == 1 && g.DW == 1 && g.KW*g.C >= implicitMinRun && g.OH > 0 && g.OW > 0 && g.OH*g.OW <= 4096
}

// ImplicitFilterPad is the floats of scratch ConvFilterImplicit needs: the
// padded image and 16 floats past it (its kernels read whole tiles).
func (g *Conv) ImplicitFilterPad() int {
	hp, wp := g.filterPadSize()
	return hp*wp*g.C + 16
}

// ConvFilterImplicit sets dw (KH·KW·C × OC) to beta·dw plus the filter
// gradient of the convolution g for one image x (H·W·C) and its output
// gradient dz (OH·OW·OC), without an im2col matrix: dz packed once into pb,
// then for each filter row kh one gemm.SgemmGrouped that reads the padded
// image in place, the pixels of an output row at a stride of SW·C floats and
// the rows at SH image rows. pad holds ImplicitFilterPad floats and must be
// zero outside the image's pixels when first used (clear it once). It runs
// on the calling goroutine.
func ConvFilterImplicit(e *gemm.Engine, g *Conv, x, dz, pad []float32, pb *gemm.PackedB, beta float32, dw []float32) {
	hp, wp := g.filterPadSize()
	cols := min(g.W, wp-g.PL)
	for ih := range min(g.H, hp-g.PT) {
		copy(pad[((ih+g.PT)*wp+g.PL)*g.C:][:cols*g.C], x[ih*g.W*g.C:])
	}
	e.PackBDeep(pb, g.OH*g.OW, g.OC, dz, g.OC)
	run := g.KW * g.C
	for kh := range g.KH {
		e.SgemmGrouped(run, pad[kh*wp*g.C:], g.SW*g.C, g.OH, g.OW, g.SH*wp*g.C, pb, beta, dw[kh*run*g.OC:][:run*g.OC], g.OC)
	}
}
