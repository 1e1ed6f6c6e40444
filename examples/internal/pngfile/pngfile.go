// Package pngfile writes the examples' images (sample grids) as PNG files.
package pngfile

import (
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
)

// Write writes img as a PNG file at path, making its folder when missing.
func Write(path string, img image.Image) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}
