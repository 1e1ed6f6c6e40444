//go:build race

package graph_test

// raceDetector is true in builds with the race detector, whose sync.Pool drops
// pooled objects at random: allocation counts are not meaningful there.
const raceDetector = true
