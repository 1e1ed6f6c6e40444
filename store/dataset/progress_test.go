package dataset

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/term"
)

func TestProgressShowsRateAndETA(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b, false, "import x", 100)
	p.start = time.Now().Add(-2 * time.Second)
	p.done = 40
	p.draw(time.Now())
	out := b.String()
	for _, want := range []string{"import x", "40/100", "40%", "samples/s", "ETA"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress line %q lacks %q", out, want)
		}
	}
	p.finish()
	if !strings.HasSuffix(b.String(), "\n") {
		t.Error("finish does not end the line")
	}
	if !term.IsTerminal(int(os.Stderr.Fd())) {
		if p := newProgress(nil, false, "piped", 10); p.w != nil {
			t.Error("progress bar drawn on a stderr that is not a terminal")
		}
	}
	q := newProgress(nil, true, "quiet", 10)
	q.add(5)
	q.finish()
	if q.w != nil {
		t.Error("quiet progress has a writer")
	}
}
