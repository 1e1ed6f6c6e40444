//go:build !amd64 || purego

package nn

func paths(f func(name string)) { f("go") }
