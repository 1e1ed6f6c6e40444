package pngfile

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReadsBack(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 3, 2))
	img.SetGray(2, 1, color.Gray{Y: 200})
	path := filepath.Join(t.TempDir(), "new", "grid.png")
	if err := Write(path, img); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", path, err)
	}
	if b := got.Bounds(); b.Dx() != 3 || b.Dy() != 2 || color.GrayModel.Convert(got.At(2, 1)).(color.Gray).Y != 200 {
		t.Fatalf("read back %v with pixel %v, want 3×2 with 200 at (2, 1)", b, got.At(2, 1))
	}
	if err := Write(filepath.Join(path, "x.png"), img); err == nil {
		t.Fatal("writing below a file: no error")
	}
}
