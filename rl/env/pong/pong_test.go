package pong

import (
	"testing"
)

func newGame(t testing.TB, o Options) *Env {
	t.Helper()
	e, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.Reset(1)
	return e
}

// runPoint plays Stay until a point is scored or max frames pass.
func runPoint(e *Env, max int) (reward float32, frames int) {
	for frames = 1; frames <= max; frames++ {
		if _, r, _ := e.Step(Stay); r != 0 {
			return r, frames
		}
	}
	return 0, frames
}

func TestMissScores(t *testing.T) {
	e := newGame(t, Options{Obs: State})
	// Toward the agent, its paddle at the top, the ball at the bottom.
	e.PlayerY, e.BallX, e.BallY, e.VX, e.VY = 0, 120, 140, 3, 0
	if r, _ := runPoint(e, 100); r != -1 || e.OppScore != 1 || e.PlayerScore != 0 {
		t.Fatalf("agent's miss: reward %v, scores %d-%d, want -1 and 0-1", r, e.PlayerScore, e.OppScore)
	}
	// Served again from the centre.
	if e.BallX != (Width-Ball)/2 || e.BallY != (Height-Ball)/2 || (e.VX != ServeSpeed && e.VX != -ServeSpeed) {
		t.Fatalf("after the point: ball at (%v, %v) moving %v, want a serve from the centre", e.BallX, e.BallY, e.VX)
	}
	// Toward the opponent, which is at the top and the ball at the bottom,
	// too close for it to get there.
	e.OpponentY, e.BallX, e.BallY, e.VX, e.VY = 0, 30, 150, -3, 0
	if r, _ := runPoint(e, 100); r != 1 || e.PlayerScore != 1 {
		t.Fatalf("opponent's miss: reward %v, scores %d-%d, want +1 and 1-1", r, e.PlayerScore, e.OppScore)
	}
}

func TestHitSpeedsUpAndAngles(t *testing.T) {
	e := newGame(t, Options{Obs: State})
	// Straight at the middle of the agent's paddle: back at 2.75, flat.
	e.PlayerY = 72
	e.BallX, e.BallY, e.VX, e.VY = 130, 78, 2.5, 0
	for i := 0; i < 10 && e.Hits == 0; i++ {
		e.Step(Stay)
	}
	if e.Hits != 1 || e.VX != -2.75 || e.VY != 0 {
		t.Fatalf("centre hit: hits %d, velocity (%v, %v), want 1 and (-2.75, 0)", e.Hits, e.VX, e.VY)
	}
	if e.BallX+Ball > PlayerX {
		t.Fatalf("ball at x %v is inside the paddle at %d", e.BallX, PlayerX)
	}
	// On the paddle's bottom end: steeply down, at the full bounce speed.
	e.BallX, e.BallY, e.VX, e.VY = 130, 72+PaddleH, 2.5, 0
	for i := 0; i < 10 && e.Hits == 1; i++ {
		e.Step(Stay)
	}
	if e.Hits != 2 || e.VY != MaxBounceVY {
		t.Fatalf("edge hit: hits %d, vy %v, want 2 and %v", e.Hits, e.VY, MaxBounceVY)
	}
	// Speed is capped.
	e.BallX, e.BallY, e.VX, e.VY = 130, 78, MaxSpeed, 0
	e.PlayerY = 72
	for i := 0; i < 10 && e.Hits == 2; i++ {
		e.Step(Stay)
	}
	if e.VX != -MaxSpeed {
		t.Fatalf("at the cap: vx %v, want %v", e.VX, -MaxSpeed)
	}
}

func TestWallBounce(t *testing.T) {
	e := newGame(t, Options{Obs: State})
	e.BallX, e.BallY, e.VX, e.VY = 80, 1, 1, -3
	e.Step(Stay)
	if e.BallY != 2 || e.VY != 3 {
		t.Fatalf("top wall: y %v vy %v, want 2 and 3", e.BallY, e.VY)
	}
}

func TestOpponentSpeedLimit(t *testing.T) {
	e := newGame(t, Options{Obs: State})
	// Far below the opponent: it moves 2 a frame, no more.
	e.OpponentY, e.BallX, e.BallY, e.VX, e.VY = 0, 80, 150, 1, 0
	for i := 0; i < 5; i++ {
		before := e.OpponentY
		e.Step(Stay)
		if d := e.OpponentY - before; d != OpponentSpeed {
			t.Fatalf("frame %d: opponent moved %v, want %v", i, d, OpponentSpeed)
		}
	}
	// A slow ball is returned; the same ball, steep, beats it.
	for _, c := range []struct {
		vy     float64
		scores bool
	}{{1, false}, {4, true}} {
		e.Reset(2)
		e.OpponentY, e.BallX, e.BallY, e.VX, e.VY = 0, 136, 0, -4, c.vy
		hits := e.Hits
		r, _ := runPoint(e, 40)
		if got := r == 1; got != c.scores || (e.Hits > hits) == c.scores {
			t.Errorf("vy %v: reward %v, opponent hits %d, want scored=%v", c.vy, r, e.Hits-hits, c.scores)
		}
	}
}

func TestGameEndsAt21(t *testing.T) {
	e := newGame(t, Options{Obs: State})
	e.PlayerScore, e.OpponentY, e.BallX, e.BallY, e.VX, e.VY = 20, 0, 30, 150, -3, 0
	for i := 0; i < 100; i++ {
		_, r, done := e.Step(Stay)
		if r != 0 {
			if !done || e.PlayerScore != 21 {
				t.Fatalf("21st point: done %v score %d", done, e.PlayerScore)
			}
			break
		}
		if done {
			t.Fatalf("done at frame %d before the point", i)
		}
	}
	// A whole game played standing still ends with a side at 21, and the rewards
	// sum to the score difference.
	e.Reset(3)
	var sum float32
	for i := 0; i < 100000; i++ {
		_, r, done := e.Step(Stay)
		sum += r
		if done {
			if max(e.PlayerScore, e.OppScore) != 21 || sum != float32(e.PlayerScore-e.OppScore) {
				t.Fatalf("game over at %d-%d with rewards summing to %v", e.PlayerScore, e.OppScore, sum)
			}
			return
		}
	}
	t.Fatal("no game over in 100,000 frames")
}

func TestMaxFramesAndSkip(t *testing.T) {
	e := newGame(t, Options{Obs: State, FrameSkip: 4, MaxFrames: 10})
	_, _, d1 := e.Step(Up)
	_, _, d2 := e.Step(Up)
	_, _, d3 := e.Step(Up)
	if e.Frames != 10 || d1 || d2 || !d3 {
		t.Fatalf("frames %d, done %v %v %v; want 10 frames and done on the third step", e.Frames, d1, d2, d3)
	}
	if want := (Height-PaddleH)/2 - 10*PlayerSpeed; e.PlayerY != want {
		t.Fatalf("paddle at %v after 10 frames up, want %v", e.PlayerY, want)
	}
}

func lit(f []float32) (n int) {
	for _, v := range f {
		if v != 0 {
			n++
		}
	}
	return n
}

func TestRenderByHand(t *testing.T) {
	e := newGame(t, Options{})
	e.OpponentY, e.PlayerY, e.BallX, e.BallY = 0, 144, 80, 40
	f := make([]float32, 80*80)
	e.Render(f)
	// Opponent: columns 8-9, rows 0-7; agent: columns 70-71, rows 72-79; ball:
	// columns 40-41, rows 20-21.
	want := map[[2]int]bool{}
	for r := 0; r < 8; r++ {
		want[[2]int{r, 8}], want[[2]int{r, 9}] = true, true
		want[[2]int{72 + r, 70}], want[[2]int{72 + r, 71}] = true, true
	}
	for r := 20; r < 22; r++ {
		want[[2]int{r, 40}], want[[2]int{r, 41}] = true, true
	}
	for r := 0; r < 80; r++ {
		for c := 0; c < 80; c++ {
			if got := f[r*80+c] == 1; got != want[[2]int{r, c}] {
				t.Fatalf("pixel (%d, %d) = %v", r, c, f[r*80+c])
			}
		}
	}
	// At 40×40 the ball is one pixel.
	e2 := newGame(t, Options{Size: 40})
	e2.OpponentY, e2.PlayerY, e2.BallX, e2.BallY = 0, 144, 80, 40
	f2 := make([]float32, 40*40)
	e2.Render(f2)
	if n := lit(f2); n != 4+4+1 {
		t.Fatalf("40x40: %d pixels lit, want 9", n)
	}
	if f2[10*40+20] != 1 {
		t.Fatal("40x40: ball pixel (10, 20) not lit")
	}
}

func TestFrameDiff(t *testing.T) {
	e := newGame(t, Options{Diff: true})
	first := e.Reset(5)
	if n := lit(first); n != 16+16+4 {
		t.Fatalf("first frame: %d pixels lit, want 36 (the frame as it is)", n)
	}
	obs, _, _ := e.Step(Up) // the agent moves 4 units = 2 pixels up
	var plus, minus int
	for _, v := range obs {
		switch v {
		case 1:
			plus++
		case -1:
			minus++
		case 0:
		default:
			t.Fatalf("difference value %v", v)
		}
	}
	if plus == 0 || plus != minus {
		t.Fatalf("difference: %d appearing and %d vanishing pixels, want equal and nonzero", plus, minus)
	}
	// The agent's paddle (columns 70-71) gained 2 rows on top, lost 2 at the bottom.
	top := int(e.PlayerY / 2)
	if obs[top*80+70] != 1 || obs[(top+8)*80+70] != -1 {
		t.Fatalf("paddle difference wrong at rows %d and %d", top, top+8)
	}
}

func TestDeterministic(t *testing.T) {
	play := func(seed uint64) (out []float32) {
		e := newGame(t, Options{Size: 40, Diff: true, FrameSkip: 2})
		out = append(out, e.Reset(seed)...)
		for i := 0; i < 300; i++ {
			obs, r, _ := e.Step(i * 5 % 7 % 3)
			out = append(out, obs...)
			out = append(out, r)
		}
		return out
	}
	a, b, c := play(9), play(9), play(10)
	diff := false
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed differs at %d", i)
		}
		diff = diff || a[i] != c[i]
	}
	if !diff {
		t.Fatal("seeds 9 and 10 play the same game")
	}
}

func TestBadOptions(t *testing.T) {
	for _, o := range []Options{{Size: 30}, {FrameSkip: -1}, {Points: -2}, {Obs: 7}} {
		if _, err := New(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

func TestZeroAllocs(t *testing.T) {
	for _, o := range []Options{{Obs: State}, {Diff: true, FrameSkip: 2}} {
		e := newGame(t, o)
		i := 0
		if n := testing.AllocsPerRun(2000, func() {
			i++
			if _, _, done := e.Step(i % 3); done {
				e.Reset(uint64(i))
			}
		}); n != 0 {
			t.Fatalf("%+v: %v allocations per step", o, n)
		}
	}
}

func benchFrames(b *testing.B, o Options) {
	e := newGame(b, o)
	i := 0
	for b.Loop() {
		i++
		if _, _, done := e.Step(i >> 4 % 3); done {
			e.Reset(uint64(i))
		}
	}
	b.ReportMetric(float64(b.N*e.opt.FrameSkip)/b.Elapsed().Seconds(), "frames/s")
}

// BenchmarkFrames: frames per second on one core, without rendering (the game
// alone) and rendered to 80×80 every frame (plain and differenced).
func BenchmarkFrames(b *testing.B) {
	b.Run("state", func(b *testing.B) { benchFrames(b, Options{Obs: State}) })
	b.Run("pixels80", func(b *testing.B) { benchFrames(b, Options{}) })
	b.Run("pixels80-diff", func(b *testing.B) { benchFrames(b, Options{Diff: true}) })
	b.Run("pixels40-diff-skip2", func(b *testing.B) { benchFrames(b, Options{Size: 40, Diff: true, FrameSkip: 2}) })
}

// The random policy (uniform actions, each held 4 frames, as examples/pong
// plays) loses almost every point: the baseline a learner starts from.
func TestRandomPolicyBaseline(t *testing.T) {
	e := newGame(t, Options{Obs: State, FrameSkip: 4})
	rng := uint64(1)
	var sum float64
	const games = 50
	for g := 0; g < games; g++ {
		e.Reset(uint64(g))
		for {
			rng = rng*6364136223846793005 + 1442695040888963407
			_, r, done := e.Step(int(rng>>33) % 3)
			sum += float64(r)
			if done {
				break
			}
		}
	}
	mean := sum / games
	t.Logf("random policy: mean return %.2f over %d games", mean, games)
	if mean > -15 {
		t.Fatalf("random policy's mean return %.2f, want below -15", mean)
	}
}

// The incremental drawing gives what a full redraw gives: the frame equals
// Render, and the difference equals Render now minus Render before, over
// games with points, serves and resets.
func TestIncrementalMatchesRender(t *testing.T) {
	for _, size := range []int{80, 40} {
		plain := newGame(t, Options{Size: size, FrameSkip: 2})
		diff := newGame(t, Options{Size: size, FrameSkip: 2, Diff: true, Points: 3})
		n := size * size
		full, before := make([]float32, n), make([]float32, n)
		plain.Reset(11)
		diff.Reset(11)
		diff.Render(before)
		for i := 0; i < 3000; i++ {
			a := (i / 7) % 3
			obs, _, done := plain.Step(a)
			plain.Render(full)
			for j := range full {
				if obs[j] != full[j] {
					t.Fatalf("size %d step %d: frame differs from Render at %d", size, i, j)
				}
			}
			if done {
				plain.Reset(uint64(i))
			}
			d, _, ddone := diff.Step(a)
			diff.Render(full)
			for j := range full {
				if d[j] != full[j]-before[j] {
					t.Fatalf("size %d step %d: difference %v at %d, want %v", size, i, d[j], j, full[j]-before[j])
				}
			}
			copy(before, full)
			if ddone {
				first := diff.Reset(uint64(i))
				diff.Render(before)
				for j := range before {
					if first[j] != before[j] {
						t.Fatalf("size %d: first frame after a reset is not the frame itself", size)
					}
				}
			}
		}
	}
}
