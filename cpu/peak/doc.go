// Package peak measures what this processor can do: its float32 FMA peak, per
// thread count, with a short loop of independent FMAs in the library's own
// assembly, and its clock, with a chain of dependent integer adds (one cycle
// each). A benchmark's "% of peak" divides by the measured figure, never by a
// guess from the instruction set: the same AVX-512 flag means 32 flops a cycle
// on Zen 4 (its 512-bit FMAs are split in two) and 64 on Zen 5 or a Xeon.
//
// It also says which processor this is (vendor, family, model and name from
// the operating system), so that every figure can name the machine it comes
// from, and what a core of that processor should reach per cycle where the
// processor is known, so that the measurement itself can be checked.
//
// The measurement takes the best of several short windows: on a shared,
// noisy machine a window can only lose time to others, never gain it.
package peak
