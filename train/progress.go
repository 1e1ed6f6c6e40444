package train

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

func (s *State) since(t time.Time) float64 { return time.Since(t).Seconds() }

// Progress draws a one-line progress bar with throughput and ETA for long work,
// redrawn in place at most ten times a second. It draws only on a terminal:
// on a file or a pipe (logs, CI) it stays quiet.
type Progress struct {
	w       io.Writer
	on      bool
	label   string
	unit    string
	total   int
	done    int
	start   time.Time
	last    time.Time
	suffix  string
	width   int
	drawn   bool
	minStep time.Duration
}

// NewProgress starts a bar for total units of work (total <= 0: unknown) on f,
// which is drawn on only if it is a terminal.
func NewProgress(f *os.File, label string, total int, unit string) *Progress {
	on := f != nil && term.IsTerminal(int(f.Fd()))
	width := 80
	if on {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 20 {
			width = w
		}
	}
	return newProgress(f, on, label, total, unit, width)
}

func newProgress(w io.Writer, on bool, label string, total int, unit string, width int) *Progress {
	now := time.Now()
	return &Progress{w: w, on: on, label: label, unit: unit, total: total, start: now, width: width, minStep: 100 * time.Millisecond}
}

// Enabled reports whether the bar draws (its writer is a terminal).
func (p *Progress) Enabled() bool { return p.on }

// Add records n more units done and redraws if enough time has passed. suffix
// (metrics, say) is shown after the bar; it is formatted only when drawn, by
// calling fn, so that quiet bars cost nothing.
func (p *Progress) Add(n int, fn func() string) {
	p.done += n
	if !p.on {
		return
	}
	now := time.Now()
	if p.drawn && now.Sub(p.last) < p.minStep && p.done < p.total {
		return
	}
	p.last = now
	if fn != nil {
		p.suffix = fn()
	}
	p.draw(now)
}

func (p *Progress) draw(now time.Time) {
	line := Bar(p.label, p.done, p.total, p.unit, now.Sub(p.start), p.width)
	if p.suffix != "" {
		line += " " + p.suffix
	}
	if len(line) > p.width-1 {
		line = line[:p.width-1]
	}
	fmt.Fprintf(p.w, "\r%s\x1b[K", line)
	p.drawn = true
}

// Finish draws the final state and ends the line.
func (p *Progress) Finish(suffix string) {
	if !p.on {
		return
	}
	if suffix != "" {
		p.suffix = suffix
	}
	p.draw(time.Now())
	fmt.Fprintln(p.w)
}

// Bar formats one line: the label, a bar, done/total, the rate in units per
// second and the time left, fitted to width columns, e.g.
//
//	epoch 2/10 [=========>          ] 30000/60000 50% 2345 samples/s ETA 0:13
func Bar(label string, done, total int, unit string, elapsed time.Duration, width int) string {
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(done) / s
	}
	var tail string
	if total > 0 {
		pct := 100 * float64(done) / float64(total)
		eta := "?"
		if rate > 0 {
			eta = clock(time.Duration(float64(max(total-done, 0)) / rate * float64(time.Second)))
		}
		tail = fmt.Sprintf(" %d/%d %3.0f%% %.0f %s/s ETA %s", done, total, pct, rate, unit, eta)
	} else {
		tail = fmt.Sprintf(" %d %.0f %s/s %s", done, rate, unit, clock(elapsed))
	}
	head := label
	if head != "" {
		head += " "
	}
	barW := width - len(head) - len(tail) - 3
	if total <= 0 || barW < 5 {
		return head + strings.TrimPrefix(tail, " ")
	}
	barW = min(barW, 30)
	fill := min(barW, int(float64(barW)*float64(done)/float64(total)))
	bar := strings.Repeat("=", fill)
	if fill < barW {
		bar += ">" + strings.Repeat(" ", barW-fill-1)
	}
	return head + "[" + bar + "]" + tail
}

// clock formats a duration as h:mm:ss or m:ss.
func clock(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// ProgressBar is a hook that draws a bar per epoch on f (normally os.Stderr)
// when f is a terminal, with the running metrics; quiet otherwise.
func ProgressBar(f *os.File) Hook {
	var p *Progress
	var s *State
	suffix := func() string { return formatValues(s.Values) }
	return Hook{
		Name: "progress",
		EpochStart: func(_ context.Context, st *State) error {
			// The total is set at the first step, once the batch size is known.
			p = NewProgress(f, fmt.Sprintf("epoch %d/%d", st.Epoch+1, st.Epochs), -1, "samples")
			return nil
		},
		StepEnd: func(_ context.Context, st *State) error {
			if p.total < 0 {
				p.total = st.StepsPerEpoch * st.Batch.Size
			}
			s = st
			p.Add(st.Batch.Size, suffix)
			return nil
		},
		EpochEnd: func(_ context.Context, st *State) error {
			s = st
			p.total = p.done
			p.Finish(formatValues(st.Values))
			return nil
		},
	}
}

func formatValues(m map[string]float64) string {
	var b strings.Builder
	for _, k := range keys(m) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s %.4g", k, m[k])
	}
	return b.String()
}
