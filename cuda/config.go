package cuda

// Config chooses the device and where the libraries come from. The zero value
// opens GPU 0 with the engine's kernels, cached in the user's cache folder.
type Config struct {
	// Ordinal is the GPU's index (0 for the first).
	Ordinal int
	// CacheDir holds compiled kernels; "" means os.UserCacheDir()/tl/kernels.
	CacheDir string
	// TF32 lets cuBLAS multiply on TF32 tensor cores: faster, a few 1e-4
	// relative error on products (TF32 keeps a 10-bit mantissa).
	TF32 bool
	// Source is the kernel set's CUDA C; "" means kernels.Source().
	Source string
	// Emulator is the path of the CPU emulator library (cuda/emu) to load
	// instead of CUDA; "" means $TL_CUDA_EMULATOR, if set.
	Emulator string
	// EmulatorMemory makes the emulator's device this many bytes large, to test
	// what running out of device memory does; 0 means the host's memory. A GPU
	// ignores it.
	EmulatorMemory int64
	// LibCUDA, LibCUBLAS and LibNVRTC, when set, are the only files tried for
	// each library.
	LibCUDA, LibCUBLAS, LibNVRTC string
}
