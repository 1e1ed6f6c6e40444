//go:build !linux

package gemm

import "time"

// cpuTime and threadCPUTime are not measured here: the benchmarks then
// report wall-clock figures only.
func cpuTime() time.Duration { return 0 }

func threadCPUTime() time.Duration { return 0 }
