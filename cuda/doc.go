// Package cuda is the CUDA backend's device: it loads the NVIDIA driver API,
// cuBLAS and NVRTC at run time and implements graph.Device.
package cuda
