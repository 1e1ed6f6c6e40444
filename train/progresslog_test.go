package train

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/tlgo/tl/feed"
)

// LogProgress says, inside an epoch, how far it is, how fast, and how long is
// left; and once more at the end of each epoch.
func TestLogProgressInsideAnEpoch(t *testing.T) {
	p := newProblem(t, 320) // 20 steps of 16 an epoch
	loop, err := New(p.config())
	if err != nil {
		t.Fatal(err)
	}
	defer loop.Close()
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	loop.Use(LogProgress(log, 5))
	if _, err := loop.Run(context.Background(), p.train, 2); err != nil {
		t.Fatal(err)
	}
	var training, done int
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		switch {
		case strings.Contains(line, "msg=training"):
			training++
			for _, want := range []string{"examples_per_s=", "epoch_eta=", "eta=", "steps=20", "loss="} {
				if !strings.Contains(line, want) {
					t.Errorf("progress line lacks %q: %s", want, line)
				}
			}
		case strings.Contains(line, `msg="epoch done"`):
			done++
		}
	}
	// Steps 5, 10 and 15 of each epoch; step 20 is the epoch's end.
	if training != 6 || done != 2 {
		t.Fatalf("%d progress lines and %d epoch lines, want 6 and 2:\n%s", training, done, buf.String())
	}
	if !strings.Contains(buf.String(), "epoch=2 of=2 step=15") {
		t.Fatalf("no line for step 15 of epoch 2:\n%s", buf.String())
	}
}

// unknownLength hides the number of batches of an epoch, as a stream does.
type unknownLength struct{ b feed.Batches }

func (u unknownLength) Specs() []feed.Spec                             { return u.b.Specs() }
func (unknownLength) Batches() int                                     { return -1 }
func (u unknownLength) Epoch(ctx context.Context, e int) feed.Iterator { return u.b.Epoch(ctx, e) }

// With an epoch of unknown length (a stream) the loop trains every batch,
// and LogProgress logs every `every` steps with no ETA, nothing negative.
func TestLogProgressUnknownEpochLength(t *testing.T) {
	p := newProblem(t, 320) // 20 steps of 16 an epoch
	loop, err := New(p.config())
	if err != nil {
		t.Fatal(err)
	}
	defer loop.Close()
	var buf bytes.Buffer
	loop.Use(LogProgress(slog.New(slog.NewTextHandler(&buf, nil)), 5))
	st, err := loop.Run(context.Background(), unknownLength{p.train}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if st.Step != 40 || st.StepsPerEpoch != -1 {
		t.Fatalf("step %d, steps per epoch %d; want 40 and -1", st.Step, st.StepsPerEpoch)
	}
	out := buf.String()
	if n := strings.Count(out, "msg=training"); n != 8 {
		t.Fatalf("%d progress lines, want 8 (steps 5, 10, 15, 20 of 2 epochs):\n%s", n, out)
	}
	if rest := strings.ReplaceAll(out, "steps=-1", ""); strings.Contains(rest, "eta=") || strings.Contains(rest, "=-") {
		t.Fatalf("an ETA or a negative value with an unknown epoch length:\n%s", out)
	}
}
