package dataset

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// progress draws a one-line progress bar with rate and ETA. A nil writer
// makes every method a no-op.
type progress struct {
	w     io.Writer
	label string
	total int
	done  int
	start time.Time
	drawn time.Time
	width int
}

// newProgress returns a bar on w; with w nil, on stderr only when stderr
// is a terminal (so logs and CI output stay clean).
func newProgress(w io.Writer, quiet bool, label string, total int) *progress {
	if quiet {
		return &progress{}
	}
	if w == nil {
		if !term.IsTerminal(int(os.Stderr.Fd())) {
			return &progress{}
		}
		w = os.Stderr
	}
	now := time.Now()
	return &progress{w: w, label: label, total: total, start: now, width: 30}
}

func (p *progress) add(n int) {
	if p.w == nil {
		return
	}
	p.done += n
	if now := time.Now(); now.Sub(p.drawn) >= 100*time.Millisecond {
		p.drawn = now
		p.draw(now)
	}
}

func (p *progress) draw(now time.Time) {
	el := now.Sub(p.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(p.done) / el
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\r%s ", p.label)
	if p.total > 0 {
		frac := min(1, float64(p.done)/float64(p.total))
		full := int(frac * float64(p.width))
		b.WriteString("[" + strings.Repeat("=", full) + strings.Repeat(" ", p.width-full) + "]")
		fmt.Fprintf(&b, " %d/%d %3.0f%% %.0f samples/s", p.done, p.total, 100*frac, rate)
		if rate > 0 && p.done < p.total {
			eta := time.Duration(float64(p.total-p.done) / rate * float64(time.Second))
			fmt.Fprintf(&b, " ETA %s", eta.Round(time.Second))
		}
	} else {
		fmt.Fprintf(&b, " %d %.0f samples/s", p.done, rate)
	}
	b.WriteString("   ")
	io.WriteString(p.w, b.String())
}

func (p *progress) finish() {
	if p.w == nil {
		return
	}
	p.draw(time.Now())
	fmt.Fprintf(p.w, " in %s\n", time.Since(p.start).Round(time.Millisecond))
}
