// Package gorgoniatest shows and tests a Gorgonia expression used as a layer:
// the interop module github.com/tlgo/tl/interop/gorgonia turns the expression
// into a graph node, and layers.LambdaN makes that node a layer of a network.
// It is a module of its own, like the interop module, so that package layers
// does not depend on Gorgonia.
package gorgoniatest
