package main

import (
	"fmt"
	"image"
	"image/color"

	"github.com/tlgo/tl/examples/internal/pngfile"
	"github.com/tlgo/tl/formats"
	"github.com/tlgo/tl/tensor"
)

// evalSet is the measured test images: originals in [0, 1] and their
// low-resolution versions.
type evalSet struct {
	a      arch
	n      int
	hr01   []float32 // n originals, [0, 1]
	lr     []float32 // n low-resolution images, [-1, 1] (the generator's input)
	bicubs []float32 // n bicubic upscalings, [0, 1]
}

func newEvalSet(im *formats.Images, n int, a arch) *evalSet {
	n = min(n, im.N)
	px, s := a.Size*a.Size, a.Size/a.Scale
	e := &evalSet{a: a, n: n, hr01: make([]float32, n*px), lr: make([]float32, n*s*s), bicubs: make([]float32, n*px)}
	img := make([]float32, px)
	for i := range n {
		for j, p := range im.Image(i) {
			e.hr01[i*px+j] = float32(p) / 255
			img[j] = float32(p)/127.5 - 1
		}
		small := downscale(img, a.Size, a.Size, a.Scale)
		copy(e.lr[i*s*s:], small)
		for j, v := range bicubic(small, s, s, a.Scale) {
			e.bicubs[i*px+j] = (v + 1) / 2
		}
	}
	return e
}

// generate runs the generator (inference mode) on every low-resolution image:
// the outputs in [0, 1].
func (e *evalSet) generate(n *srgan) ([]float32, error) {
	px, s := e.a.Size*e.a.Size, e.a.Size/e.a.Scale
	out := make([]float32, e.n*px)
	for lo := 0; lo < e.n; lo += 500 {
		hi := min(lo+500, e.n)
		in, err := tensor.FromFloat32(e.lr[lo*s*s:hi*s*s], hi-lo, s, s, 1)
		if err != nil {
			return nil, err
		}
		r, err := n.infer.Run(n.lr.Feed(in))
		if err != nil {
			return nil, fmt.Errorf("srgan: upscaling test images: %w", err)
		}
		for i, v := range r[0].Float32s() {
			out[lo*px+i] = (v + 1) / 2
		}
	}
	return out, nil
}

// measure is the mean PSNR and SSIM of images against the originals.
func (e *evalSet) measure(images []float32) quality {
	px := e.a.Size * e.a.Size
	var q quality
	for i := range e.n {
		a, b := images[i*px:(i+1)*px], e.hr01[i*px:(i+1)*px]
		q.PSNR += min(psnr(a, b), 100) / float64(e.n)
		q.SSIM += ssim(a, b, e.a.Size, e.a.Size) / float64(e.n)
	}
	return q
}

func (e *evalSet) bicubic() quality { return e.measure(e.bicubs) }

// grid writes rows of the first k test images: low resolution (each pixel a
// block), bicubic, pixel loss only, SRGAN, original.
func (e *evalSet) grid(path string, pixelOnly, srgan []float32, k int) error {
	k = min(k, e.n)
	sz, s, r := e.a.Size, e.a.Size/e.a.Scale, e.a.Scale
	px := sz * sz
	img := image.NewGray(image.Rect(0, 0, 5*(sz+1)+1, k*(sz+1)+1))
	for i := range k {
		cols := [][]float32{nil, e.bicubs[i*px:], pixelOnly[i*px:], srgan[i*px:], e.hr01[i*px:]}
		for c, src := range cols {
			for y := range sz {
				for x := range sz {
					var v float32
					if c == 0 {
						v = (e.lr[i*s*s+(y/r)*s+x/r] + 1) / 2
					} else {
						v = src[y*sz+x]
					}
					img.SetGray(1+c*(sz+1)+x, 1+i*(sz+1)+y, color.Gray{Y: uint8(clip01(v)*255 + 0.5)})
				}
			}
		}
	}
	if err := pngfile.Write(path, img); err != nil {
		return fmt.Errorf("srgan: grid: %w", err)
	}
	return nil
}
