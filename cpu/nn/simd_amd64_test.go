//go:build amd64 && !purego

package nn

// paths runs f with the assembly kernels (when the CPU has them) and with the
// plain Go loops.
func paths(f func(name string)) {
	saved := hasAVX2
	defer func() { hasAVX2 = saved }()
	if saved {
		f("avx2")
	}
	hasAVX2 = false
	f("go")
}
