package cuda

import "testing"

func TestRoundSize(t *testing.T) {
	for n, want := range map[int]int{0: 512, 1: 512, 512: 512, 513: 1024, 1<<20 - 1: 1 << 20, 1 << 20: 2 << 20, 2<<20 + 1: 4 << 20} {
		if got := roundSize(n); got != want {
			t.Errorf("roundSize(%d) = %d, want %d", n, got, want)
		}
	}
}
