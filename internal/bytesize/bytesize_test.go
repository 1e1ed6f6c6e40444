package bytesize

import (
	"math"
	"testing"
)

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"},
		{1, "1 B"},
		{999, "999 B"},
		{1000, "1000 B"}, // binary units: 1000 is still bytes
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{1025, "1.0 KiB"},
		{1536, "1.5 KiB"},
		{1<<20 - 1, "1024.0 KiB"}, // rounds up within KiB: the unit is the whole part's
		{1 << 20, "1.0 MiB"},
		{3 << 20, "3.0 MiB"},
		{1<<30 + 1<<29, "1.5 GiB"},
		{1 << 40, "1.0 TiB"},
		{1 << 50, "1.0 PiB"},
		{1 << 60, "1.0 EiB"},
		{math.MaxInt64, "8.0 EiB"},
		{-1, "-1 B"}, // no size is negative; shown as is rather than hidden
	} {
		if got := Format(c.n); got != c.want {
			t.Errorf("Format(%d) = %q; want %q", c.n, got, c.want)
		}
	}
}
