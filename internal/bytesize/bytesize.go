// Package bytesize writes a count of bytes for people to read, in binary
// units ("512 B", "1.5 MiB"): the one format that tl's listings and the
// dashboard share, so that a size reads the same in both.
package bytesize

import "fmt"

// Format writes n bytes as "N B" below 1024, else with one decimal in the
// largest binary unit (KiB to EiB) of which n holds at least one whole.
func Format(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
