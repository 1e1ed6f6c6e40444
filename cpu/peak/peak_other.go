//go:build !amd64

package peak

func kernels() []kernel { return nil }

func clockLoop() (func(int), int) { return nil, 0 }
