package cuda

import (
	"fmt"
	"unsafe"
)

// driver holds the driver API entry points (libcuda.so.1 or the emulator).
type driver struct {
	lib *dylib

	init, driverGetVersion, deviceGetCount, deviceGet, deviceGetName, deviceGetAttribute  uintptr
	deviceTotalMem, primaryCtxRetain, primaryCtxRelease, ctxSetCurrent, ctxSynchronize    uintptr
	memAlloc, memFree, memGetInfo, memcpyHtoDAsync, memcpyDtoHAsync, memcpyDtoDAsync      uintptr
	memsetD32Async, moduleLoadData, moduleUnload, moduleGetFunction, funcSetAttribute     uintptr
	launchKernel, streamCreate, streamDestroy, streamSynchronize, streamBeginCapture      uintptr
	streamEndCapture, graphInstantiate, graphLaunch, graphDestroy, graphExecDestroy       uintptr
	eventCreate, eventRecord, eventSynchronize, eventElapsedTime, eventDestroy, errorName uintptr
	errorString                                                                           uintptr
}

func bindDriver(lib *dylib) (*driver, error) {
	d := &driver{lib: lib}
	err := lib.syms(map[string]*uintptr{
		"cuInit": &d.init, "cuDriverGetVersion": &d.driverGetVersion, "cuDeviceGetCount": &d.deviceGetCount,
		"cuDeviceGet": &d.deviceGet, "cuDeviceGetName": &d.deviceGetName,
		"cuDeviceGetAttribute": &d.deviceGetAttribute, "cuDeviceTotalMem_v2": &d.deviceTotalMem,
		"cuDevicePrimaryCtxRetain": &d.primaryCtxRetain, "cuDevicePrimaryCtxRelease_v2": &d.primaryCtxRelease,
		"cuCtxSetCurrent": &d.ctxSetCurrent, "cuCtxSynchronize": &d.ctxSynchronize,
		"cuMemAlloc_v2": &d.memAlloc, "cuMemFree_v2": &d.memFree, "cuMemGetInfo_v2": &d.memGetInfo,
		"cuMemcpyHtoDAsync_v2": &d.memcpyHtoDAsync, "cuMemcpyDtoHAsync_v2": &d.memcpyDtoHAsync,
		"cuMemcpyDtoDAsync_v2": &d.memcpyDtoDAsync, "cuMemsetD32Async": &d.memsetD32Async,
		"cuModuleLoadData": &d.moduleLoadData, "cuModuleUnload": &d.moduleUnload,
		"cuModuleGetFunction": &d.moduleGetFunction, "cuFuncSetAttribute": &d.funcSetAttribute,
		"cuLaunchKernel": &d.launchKernel, "cuStreamCreate": &d.streamCreate,
		"cuStreamDestroy_v2": &d.streamDestroy, "cuStreamSynchronize": &d.streamSynchronize,
		"cuStreamBeginCapture_v2": &d.streamBeginCapture, "cuStreamEndCapture": &d.streamEndCapture,
		"cuGraphInstantiateWithFlags": &d.graphInstantiate, "cuGraphLaunch": &d.graphLaunch,
		"cuGraphDestroy": &d.graphDestroy, "cuGraphExecDestroy": &d.graphExecDestroy,
		"cuEventCreate": &d.eventCreate, "cuEventRecord": &d.eventRecord,
		"cuEventSynchronize": &d.eventSynchronize, "cuEventElapsedTime": &d.eventElapsedTime,
		"cuEventDestroy_v2": &d.eventDestroy, "cuGetErrorName": &d.errorName,
		"cuGetErrorString": &d.errorString,
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// check turns a CUresult into nil or an *Error named after the call.
func (d *driver) check(fn string, code int) error {
	if code == 0 {
		return nil
	}
	e := &Error{Call: fn, Code: code}
	var s uintptr
	if d.errorName != 0 && call(d.errorName, uintptr(code), uintptr(unsafe.Pointer(&s))) == 0 {
		e.Name = goString(s)
	}
	if e.Name == "" {
		e.Name = driverNames[code]
	}
	if e.Name == "" {
		e.Name = "CUDA_ERROR_UNKNOWN"
	}
	s = 0
	if d.errorString != 0 && call(d.errorString, uintptr(code), uintptr(unsafe.Pointer(&s))) == 0 {
		e.Message = goString(s)
	}
	return e
}

// Attribute numbers of cuDeviceGetAttribute.
const (
	attrMaxThreadsPerBlock     = 1
	attrMaxSharedPerBlock      = 8
	attrWarpSize               = 10
	attrMultiprocessorCount    = 16
	attrComputeCapabilityMajor = 75
	attrComputeCapabilityMinor = 76
)

func (d *driver) attribute(dev int32, attr int) (int, error) {
	var v int32
	if err := d.check("cuDeviceGetAttribute", call(d.deviceGetAttribute, uintptr(unsafe.Pointer(&v)),
		uintptr(attr), uintptr(dev))); err != nil {
		return 0, fmt.Errorf("device attribute %d: %w", attr, err)
	}
	return int(v), nil
}
