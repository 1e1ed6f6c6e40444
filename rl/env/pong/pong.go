package pong

import (
	"fmt"
	"math/rand/v2"
)

// Geometry and speeds, in court units (Atari pixels) per frame.
const (
	Width, Height    = 160, 160
	PaddleW, PaddleH = 4, 16
	Ball             = 4
	OpponentX        = 16
	PlayerX          = 140
	PlayerSpeed      = 4.0
	OpponentSpeed    = 2.0
	ServeSpeed       = 2.5
	ServeMaxVY       = 2.0
	HitAccel         = 0.25
	MaxSpeed         = 6.0
	MaxBounceVY      = 4.0
)

// Actions.
const (
	Stay = iota
	Up
	Down
)

// ObsKind selects the observation.
type ObsKind int

const (
	// Pixels is the rendered frame, [Size, Size, 1].
	Pixels ObsKind = iota
	// State is (ball x, ball y, ball vx, ball vy, agent's paddle y, opponent's
	// paddle y), scaled to about [−1, 1].
	State
)

// Options configure a game; the zero value is Atari's: pixels at 80×80, no frame
// skip, no differencing, games to 21.
type Options struct {
	Obs       ObsKind
	Size      int  // frame side in pixels; must divide 160 (default 80)
	Diff      bool // return frame differences
	FrameSkip int  // frames per Step (default 1)
	Points    int  // points that end a game (default 21)
	MaxFrames int  // frames after which a game is cut (0: none)
}

// Env is one game of Pong.
type Env struct {
	opt Options

	// The game's state: positions are top-left corners.
	BallX, BallY, VX, VY  float64
	PlayerY, OpponentY    float64
	PlayerScore, OppScore int
	Frames                int
	Hits                  int // paddle hits this game

	pcg   rand.PCG
	rng   *rand.Rand
	frame []float32 // rendered frame
	prev  []float32 // last frame returned (Diff)
	obs   []float32
	state [6]float32
	// The boxes drawn in frame, in prev, and nonzero in obs.
	cur, prevBoxes    [3]box
	obsBoxes          [6]box
	ncur, nprev, nobs int
}

// New makes a game; it fails on options it cannot honour.
func New(o Options) (*Env, error) {
	if o.Size == 0 {
		o.Size = 80
	}
	if o.FrameSkip == 0 {
		o.FrameSkip = 1
	}
	if o.Points == 0 {
		o.Points = 21
	}
	switch {
	case o.Size < 0 || Width%o.Size != 0:
		return nil, fmt.Errorf("pong: Size %d does not divide the court's %d units", o.Size, Width)
	case o.FrameSkip < 0:
		return nil, fmt.Errorf("pong: FrameSkip %d, want at least 1", o.FrameSkip)
	case o.Points < 0 || o.MaxFrames < 0:
		return nil, fmt.Errorf("pong: Points %d and MaxFrames %d must not be negative", o.Points, o.MaxFrames)
	case o.Obs != Pixels && o.Obs != State:
		return nil, fmt.Errorf("pong: unknown observation kind %d", o.Obs)
	}
	e := &Env{opt: o}
	e.rng = rand.New(&e.pcg)
	if o.Obs == Pixels {
		n := o.Size * o.Size
		e.frame = make([]float32, n)
		if o.Diff {
			e.prev = make([]float32, n)
			e.obs = make([]float32, n)
		}
	}
	return e, nil
}

// Options returns the game's options, defaults filled in.
func (e *Env) Options() Options { return e.opt }

// ObsShape is [Size, Size, 1] for pixels, [6] for the state.
func (e *Env) ObsShape() []int {
	if e.opt.Obs == State {
		return []int{6}
	}
	return []int{e.opt.Size, e.opt.Size, 1}
}

// NumActions is 3: stay, up, down.
func (e *Env) NumActions() int { return 3 }

// Reset starts a game: scores 0, paddles centred, a serve drawn from seed.
func (e *Env) Reset(seed uint64) []float32 {
	e.pcg.Seed(seed, seed^0xDA3E39CB94B95BDB)
	e.PlayerScore, e.OppScore, e.Frames, e.Hits = 0, 0, 0, 0
	e.PlayerY = (Height - PaddleH) / 2
	e.OpponentY = e.PlayerY
	e.serve()
	clear(e.frame)
	clear(e.prev)
	clear(e.obs)
	e.ncur, e.nprev, e.nobs = 0, 0, 0
	return e.observe()
}

// serve puts the ball in the centre moving toward a random side.
func (e *Env) serve() {
	e.BallX, e.BallY = (Width-Ball)/2, (Height-Ball)/2
	e.VX = ServeSpeed
	if e.rng.IntN(2) == 0 {
		e.VX = -ServeSpeed
	}
	e.VY = (2*e.rng.Float64() - 1) * ServeMaxVY
}

// Step plays action for FrameSkip frames (fewer if the game ends) and returns the
// observation after the last, the sum of the rewards, and whether the game is
// over.
func (e *Env) Step(action int) ([]float32, float32, bool) {
	if action < 0 || action > 2 {
		panic(fmt.Sprintf("pong: action %d, want 0 (stay), 1 (up) or 2 (down)", action))
	}
	var reward float32
	done := false
	for k := 0; k < e.opt.FrameSkip && !done; k++ {
		r := e.frameStep(action)
		reward += r
		done = e.PlayerScore >= e.opt.Points || e.OppScore >= e.opt.Points ||
			(e.opt.MaxFrames > 0 && e.Frames >= e.opt.MaxFrames)
	}
	return e.observe(), reward, done
}

// frameStep advances the game one frame and returns the reward of that frame.
func (e *Env) frameStep(action int) float32 {
	e.Frames++
	switch action {
	case Up:
		e.PlayerY -= PlayerSpeed
	case Down:
		e.PlayerY += PlayerSpeed
	}
	e.PlayerY = clamp(e.PlayerY, 0, Height-PaddleH)

	// The opponent follows the ball's centre at a limited speed.
	d := (e.BallY + Ball/2) - (e.OpponentY + PaddleH/2)
	e.OpponentY = clamp(e.OpponentY+clamp(d, -OpponentSpeed, OpponentSpeed), 0, Height-PaddleH)

	px, py := e.BallX, e.BallY
	e.BallX += e.VX
	e.BallY += e.VY
	if e.BallY < 0 {
		e.BallY, e.VY = -e.BallY, -e.VY
	} else if e.BallY > Height-Ball {
		e.BallY, e.VY = 2*(Height-Ball)-e.BallY, -e.VY
	}

	// Paddles: the ball's leading edge crossing the paddle's face this frame,
	// with the ball overlapping the paddle where it crossed.
	if e.VX > 0 && px+Ball <= PlayerX && e.BallX+Ball >= PlayerX {
		if y := py + e.VY*(PlayerX-(px+Ball))/e.VX; y+Ball >= e.PlayerY && y <= e.PlayerY+PaddleH {
			e.bounce(PlayerX-Ball, y, e.PlayerY, -1)
		}
	} else if e.VX < 0 && px >= OpponentX+PaddleW && e.BallX <= OpponentX+PaddleW {
		if y := py + e.VY*(px-(OpponentX+PaddleW))/-e.VX; y+Ball >= e.OpponentY && y <= e.OpponentY+PaddleH {
			e.bounce(OpponentX+PaddleW, y, e.OpponentY, 1)
		}
	}

	switch {
	case e.BallX > Width:
		e.OppScore++
		e.serve()
		return -1
	case e.BallX+Ball < 0:
		e.PlayerScore++
		e.serve()
		return 1
	}
	return 0
}

// bounce sends the ball back from a paddle at paddleY, struck at height y, in
// direction dir (+1 right, −1 left).
func (e *Env) bounce(x, y, paddleY, dir float64) {
	e.Hits++
	speed := min(abs(e.VX)+HitAccel, MaxSpeed)
	e.BallX, e.BallY = x, clamp(y, 0, Height-Ball)
	e.VX = dir * speed
	// Where it struck: −1 at the paddle's top end, +1 at its bottom end.
	off := ((y + Ball/2) - (paddleY + PaddleH/2)) / (PaddleH/2 + Ball/2)
	e.VY = clamp(off, -1, 1) * MaxBounceVY
}

func (e *Env) observe() []float32 {
	if e.opt.Obs == State {
		e.state = [6]float32{
			float32(e.BallX/Width*2 - 1), float32(e.BallY/Height*2 - 1),
			float32(e.VX / MaxSpeed), float32(e.VY / MaxBounceVY),
			float32(e.PlayerY/Height*2 - 1), float32(e.OpponentY/Height*2 - 1),
		}
		return e.state[:]
	}
	// Incremental drawing: only the boxes of the objects change, so the frame,
	// the previous frame and the difference are updated there, not over every
	// pixel (a whole 80×80 pass costs more than the game).
	s := e.opt.Size
	if e.opt.Diff {
		fill(e.prev, s, e.prevBoxes[:e.nprev], 0)
		fill(e.prev, s, e.cur[:e.ncur], 1)
		e.prevBoxes, e.nprev = e.cur, e.ncur
	}
	fill(e.frame, s, e.cur[:e.ncur], 0)
	e.ncur = e.boxes(&e.cur)
	fill(e.frame, s, e.cur[:e.ncur], 1)
	if !e.opt.Diff {
		return e.frame
	}
	fill(e.obs, s, e.obsBoxes[:e.nobs], 0)
	e.nobs = 0
	for _, bs := range [][]box{e.prevBoxes[:e.nprev], e.cur[:e.ncur]} {
		for _, b := range bs {
			for r := b.y0; r < b.y1; r++ {
				for c := b.x0; c < b.x1; c++ {
					i := r*s + c
					e.obs[i] = e.frame[i] - e.prev[i]
				}
			}
			e.obsBoxes[e.nobs] = b
			e.nobs++
		}
	}
	return e.obs
}

// box is a rectangle of pixels [x0, x1) × [y0, y1).
type box struct{ x0, x1, y0, y1 int }

// boxes computes the pixel boxes of the paddles and the ball (when on the
// court) and returns how many there are.
func (e *Env) boxes(bs *[3]box) int {
	s := e.opt.Size
	scale := float64(s) / Width
	bs[0] = pixels(s, scale, OpponentX, e.OpponentY, PaddleW, PaddleH)
	bs[1] = pixels(s, scale, PlayerX, e.PlayerY, PaddleW, PaddleH)
	if e.BallX > -Ball && e.BallX < Width {
		bs[2] = pixels(s, scale, e.BallX, e.BallY, Ball, Ball)
		return 3
	}
	return 2
}

func fill(dst []float32, s int, bs []box, v float32) {
	for _, b := range bs {
		for r := b.y0; r < b.y1; r++ {
			row := dst[r*s : (r+1)*s]
			for c := b.x0; c < b.x1; c++ {
				row[c] = v
			}
		}
	}
}

// Render draws the court into dst (Size×Size values, row-major, top row first):
// 1 where a paddle or the ball covers a pixel, 0 elsewhere.
func (e *Env) Render(dst []float32) {
	clear(dst)
	var bs [3]box
	n := e.boxes(&bs)
	fill(dst, e.opt.Size, bs[:n], 1)
}

// pixels is the box of pixels whose centres lie inside the rectangle (x, y, w,
// h), at least one pixel per axis.
func pixels(s int, scale, x, y, w, h float64) box {
	x0, x1 := span(x*scale, (x+w)*scale, s)
	y0, y1 := span(y*scale, (y+h)*scale, s)
	return box{x0, x1, y0, y1}
}

// span is the pixels [lo, hi) whose centres lie in [a, b), at least one.
func span(a, b float64, s int) (int, int) {
	lo := int(a + 0.5)
	hi := int(b + 0.5)
	if hi <= lo {
		hi = lo + 1
	}
	return max(lo, 0), min(hi, s)
}

func clamp(v, lo, hi float64) float64 { return max(lo, min(v, hi)) }

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}
