// Package pong is Atari Pong's game, written for learning from pixels: two
// paddles, a ball that bounces off the top and bottom walls, a point to the side
// whose opponent misses, games to 21, and a scripted opponent on the left that
// follows the ball at a limited speed. The agent plays the right paddle, as in the
// Atari 2600 game that Karpathy's "Pong from pixels" (the TensorLayer paper's
// reference [22]) and the Arcade Learning Environment use.
//
// # The game
//
// The court is 160×160 units (the playing area of Atari's 210×160 screen, cropped
// as Karpathy crops it). Paddles are 4×16 units, at x = 16 (opponent) and x = 140
// (agent); the ball is a 4×4 square. Each frame the agent's paddle moves 4 units up
// (action 1), down (action 2) or stays (action 0), within the court; the opponent
// moves its centre toward the ball's centre by at most OpponentSpeed (2 units) a
// frame. A serve leaves the centre at 2.5 units a frame horizontally, toward a side
// drawn from the seed, with a vertical speed drawn in [−2, 2]. A paddle that meets
// the ball sends it back 0.25 units a frame faster (up to 6) and at a vertical
// speed set by where it struck, from −4 at one end of the paddle to +4 at the
// other, so an edge hit sends the ball steeply — faster vertically than the
// opponent can follow, which is how the opponent is beaten, as in Atari Pong. A
// ball that leaves the court behind a paddle scores for the other side: reward +1
// when the agent scores, −1 when the opponent does. The episode is one game, over
// when a side reaches Options.Points (21), or after Options.MaxFrames.
//
// What differs from the Atari game: no paddle inertia, a square ball, a serve at
// once after a point (Atari waits about a second), and no emulator — the game is a
// few dozen lines of arithmetic, so a frame costs tens of nanoseconds. Frames are
// drawn incrementally (only the boxes of the paddles and the ball change), so an
// 80×80 differenced frame costs well under a microsecond.
//
// # Observations
//
// Options.Obs selects Pixels, the frame rendered to Size×Size (80 by default:
// the court downsampled by 2, as Karpathy's preprocessing does) with 1 for the
// paddles and the ball and 0 elsewhere, shape [Size, Size, 1]; or State, the six
// numbers the game keeps (ball position and velocity, both paddles), for fast
// tests and for the benchmark of the game without rendering. Options.Diff
// returns the difference of this frame and the last one returned (Karpathy's
// motion cue; the first frame of a game is returned as it is). Options.FrameSkip
// repeats each action on k frames, sums their rewards and renders only the last.
package pong
