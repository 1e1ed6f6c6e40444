package graph

import (
	"github.com/tlgo/tl/tensor"
)

// DevicePlan is a Plan on a Device: the same nodes, order and memory plan, with
// every intermediate in device memory and every kernel queued on the device.
type DevicePlan struct {
	dev     Device
	opts    Options
	kernels []Kernel
	knodes  []*Node
	tensors map[*Node]DeviceTensor

	feeds   []*Node
	feedH   []*tensor.Tensor // host side of each feed
	feedD   []DeviceTensor
	targets []*Node
	targetH []*tensor.Tensor // host copies of the targets after Run
	targetD []DeviceTensor

	counter  DevicePtr // uint64 step counter
	slots    DevicePtr // int32 error slots
	slotNode []*Node
	slotFmt  []func(int32) error
	slotHost []int32
	owned    []DevicePtr // memory freed on Close
	graph    DeviceGraph
	runErr   error
}

func (p *DevicePlan) newSlot(n *Node, format func(int32) error) int {
	p.slotNode = append(p.slotNode, n)
	p.slotFmt = append(p.slotFmt, format)
	return len(p.slotNode) - 1
}
