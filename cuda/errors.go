package cuda

import (
	"errors"
	"fmt"
)

// ErrNoDevice is wrapped by Open's error when there is no NVIDIA driver or no GPU.
var ErrNoDevice = errors.New("cuda: no NVIDIA driver/GPU was found")

// Error is a failed driver, cuBLAS or NVRTC call.
type Error struct {
	Call    string // the C function, e.g. "cuLaunchKernel"
	Code    int    // its status code
	Name    string // the code's name, e.g. "CUDA_ERROR_INVALID_VALUE"
	Message string // the library's description, when it has one
}

func (e *Error) Error() string {
	s := fmt.Sprintf("cuda: %s: %s (%d)", e.Call, e.Name, e.Code)
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// CUDA driver codes the package acts on.
const (
	errOutOfMemory   = 2
	errNotFound      = 500
	errNoDevice      = 100
	errNoDriver      = 35 // CUDA_ERROR_INSUFFICIENT_DRIVER
	errStubLibrary   = 34
	errNotPermitted  = 800
	errNotSupported  = 801
	errSystemDriver  = 803 // CUDA_ERROR_SYSTEM_DRIVER_MISMATCH
	errCompatibility = 804
)

// driverNames names the codes most often seen, for when cuGetErrorName itself is
// unavailable (a failed load).
var driverNames = map[int]string{
	1: "CUDA_ERROR_INVALID_VALUE", 2: "CUDA_ERROR_OUT_OF_MEMORY", 3: "CUDA_ERROR_NOT_INITIALIZED",
	34: "CUDA_ERROR_STUB_LIBRARY", 35: "CUDA_ERROR_INSUFFICIENT_DRIVER", 100: "CUDA_ERROR_NO_DEVICE",
	101: "CUDA_ERROR_INVALID_DEVICE", 200: "CUDA_ERROR_INVALID_IMAGE", 201: "CUDA_ERROR_INVALID_CONTEXT",
	209: "CUDA_ERROR_NO_BINARY_FOR_GPU", 218: "CUDA_ERROR_INVALID_PTX", 400: "CUDA_ERROR_INVALID_HANDLE",
	500: "CUDA_ERROR_NOT_FOUND", 700: "CUDA_ERROR_ILLEGAL_ADDRESS", 701: "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES",
	702: "CUDA_ERROR_LAUNCH_TIMEOUT", 719: "CUDA_ERROR_LAUNCH_FAILED", 900: "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED",
	901: "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED", 999: "CUDA_ERROR_UNKNOWN",
}

// cublasNames: cuBLAS has no message function in the ABI we use.
var cublasNames = map[int]string{
	1: "CUBLAS_STATUS_NOT_INITIALIZED", 3: "CUBLAS_STATUS_ALLOC_FAILED", 7: "CUBLAS_STATUS_INVALID_VALUE",
	8: "CUBLAS_STATUS_ARCH_MISMATCH", 11: "CUBLAS_STATUS_MAPPING_ERROR", 13: "CUBLAS_STATUS_EXECUTION_FAILED",
	14: "CUBLAS_STATUS_INTERNAL_ERROR", 15: "CUBLAS_STATUS_NOT_SUPPORTED", 16: "CUBLAS_STATUS_LICENSE_ERROR",
}

func cublasError(call string, code int) error {
	name, ok := cublasNames[code]
	if !ok {
		name = "CUBLAS_STATUS_UNKNOWN"
	}
	return &Error{Call: call, Code: code, Name: name}
}

// codeOf returns the status code of a *Error in err's chain, or -1.
func codeOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return -1
}
