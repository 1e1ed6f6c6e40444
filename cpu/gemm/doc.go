// Package gemm is the single-precision matrix product the CPU engine stands
// on:
//
//	C = alpha·op(A)·op(B) + beta·C,  op(X) = X or Xᵀ,
//
// on row-major matrices with row strides, through the BLAS-like [Sgemm] or
// an [Engine] of one's own.
//
// # Why a kernel of our own
//
// Every convolution, dense layer and LSTM step of a network ends in a GEMM,
// so its speed is the speed of training on a CPU. gonum's pure-Go sgemm,
// the natural dependency, runs at 9-12 GFLOP/s per core on the development
// machine (an AVX-512 AMD EPYC, about 210 GFLOP/s per core), a few percent of
// the hardware. OpenBLAS is fast but
// is a system library that is not always installed, and Debian's build
// misdetects recent CPUs and silently runs an SSE3 kernel several times
// slower. So the package has its own blocked GEMM with SIMD micro-kernels in
// Go assembly, which needs no cgo and no library, and runs at 0.95-1.5 times
// OpenBLAS's speed on the shapes the engine runs (0.5-0.7 on the tiniest),
// ahead on the convolutions (docs/BENCHMARKS.md, "CPU GEMM"); OpenBLAS stays
// available, loaded at run time, as a second backend.
//
// # How the product is blocked
//
// The algorithm is Goto's, as in BLIS and OpenBLAS. A micro-kernel keeps an
// mr×nr tile of C in registers and runs over the inner dimension: at each
// step it loads one row of nr values of B and broadcasts mr values of A,
// one fused multiply-add per register. The AVX-512 kernel holds a 14×32 tile
// in 28 of the 32 zmm registers (two vectors per row of C, so rows of the
// row-major C are loaded and stored as whole vectors), and a 14×16 variant
// serves products with at most 16 columns and the last panel of C when at
// most 16 columns are left (it is packed 16 wide); the AVX2+FMA kernel holds a 6×16
// tile in 12 of the 16 ymm registers; a 4×4 kernel in plain Go runs
// anywhere. The kernel is picked once, from CPUID, when the package starts.
//
// Around the kernel, three loops keep its operands in cache. The inner
// dimension is cut into slices of kc (384) so that a kc×nr micro-panel of B
// stays in L1 while the micro-panels of A stream past it; an mc×kc block of
// A (mc = 168 rows, 252 KiB) stays in L2; a kc×nc block of B (nc = 2048)
// stays in L2/L3. Each block is first packed: copied into the exact order
// the kernel reads, zero-padded to whole tiles, with alpha folded in, so the
// kernel reads memory with unit stride whatever the transposes and strides
// of the caller. Packing uses AVX-512 16×16 transpositions and masked
// copies where the CPU has them. Two refinements matter for the shapes of a
// network: when C is narrow (n <= 128, as in every convolution; n <= 256
// when no other thread's rows share B, or B is a [PackedB]) a packed panel
// of A would serve only a few tiles, so the kernel reads A in place through
// a row or column stride instead; and the AVX-512 kernels store the
// right-hand edge tiles under masks, so odd widths cost no extra pass.
//
// [PackedB] keeps op(B) packed for products that share it: a recurrent
// layer's steps each multiply a batch of a few rows by the same weights, and
// packing those again every step cost more than the product (PTB medium's
// recurrent weights are 650×2600). [Engine.PackB] packs once per sequence
// ([Engine.PackBFor] in pieces on a pool, so that a layer split across cores
// packs on all of them); [Engine.SgemmPacked] runs each step on the packed
// panels. A row-major B is packed four 32-wide panels per pass, each row read
// once as 512 contiguous bytes (copyPanels4): a panel at a time read 128
// bytes of every row per pass, 20–35% slower on the PTB softmax's weights.
//
// [Engine.SgemmBias] adds a bias to every row of C inside the product: the
// packed A gets one more inner step of ones and the packed B the bias as that
// step's row, so a dense layer's output is written once instead of written,
// then read and written again by a separate bias pass (a tenth of a language
// model's inference step, whose softmax layer writes 4 million logits).
//
// # Convolutions without im2col
//
// [Engine.SgemmGroupedRows] and [Engine.SgemmGrouped] read A in place with the
// inner dimension in groups: step q of group g is at a fixed stride within the
// group and the groups a jump apart, B packed in one deep slice
// ([Engine.PackBDeep]). Rows of A may overlap (a stride smaller than a
// group). With A's rows the output pixels of a convolution's row (a window
// every SW·C floats of the padded image) and the groups its filter rows (an
// image row apart), one call computes the row; with A's rows a window row's
// floats and the inner dimension the output pixels (an output row a group),
// one call per filter row computes a filter gradient. Kernels of 14 and 12
// rows with an outer loop over the groups do it on AVX-512 ([Engine.Grouped]);
// elsewhere a kernel call runs per group. Bottom edges of other row counts are
// copied into a packed panel and run on the 7- and 10-row edge kernels,
// which also take the bottom edges of every packed product.
//
// # Threads
//
// A product is cut into chunks by rows or by columns of C, whichever makes
// the chunks share the smaller operand; the threads (runtime.GOMAXPROCS by
// default) claim them in turn, so a thread that the machine delays leaves
// its share to the others. When the chunks are rows and B is packed (C wider
// than 128 columns), B is packed once for all of them, as BLIS and OpenBLAS
// share one packed B among threads: the threads pack it together, a kc×nr
// panel at a time, each waiting only for the slice it is about to use, and
// then claim rows in pieces that shrink as the work runs out (at most an mc
// block, at least two tiles), so that they finish together; each packs its
// own A. Other splits pack the shared operand per chunk, with up to four
// chunks per thread. When C is small and the inner dimension long (the
// weight gradient of a convolution), the inner dimension is split instead,
// one chunk per thread, and the partial products added. A split by rows or
// columns changes no sum's order: the result is bit-identical to one
// thread's. The threads are long-lived worker goroutines of the engine; the
// calling goroutine works too. Between products a worker looks for the next
// one for 50 µs before it sleeps, and the caller spins as long for the
// workers' end, since waking a sleeping thread costs tens of microseconds.
// One thread runs the product as one chunk. Products under about two
// million multiply-adds run on the calling goroutine alone.
//
// # Allocation and concurrency
//
// An [Engine] recycles the state of each product (packing buffers, the
// argument block) through a free list, so that after the first calls a
// product allocates nothing; concurrent products on one engine each take
// their own state. Sgemm validates its arguments and panics with a message
// naming the argument (lda, len(b), ...) when a stride is smaller than a row
// or a slice too short: it is a low-level kernel, and callers check shapes.
// When beta is 0, C is only written, never read, so it may hold NaN.
//
// # Backends and the default policy
//
// [Native] is this package's GEMM. [OpenBLAS] is the system's libopenblas,
// opened at run time with github.com/ebitengine/purego, so the package
// builds with CGO_ENABLED=0 and works where OpenBLAS is absent. It is looked
// for in TL_OPENBLAS (a file), the directories of LD_LIBRARY_PATH, the
// dynamic loader's path and the usual Debian, Fedora and /usr/local places
// (install it with apt-get install libopenblas0-pthread). Before the
// library loads, OPENBLAS_CORETYPE=SkylakeX is put into the C environment
// (through libc's setenv: without cgo, os.Setenv does not reach it) on CPUs
// with AVX-512, unless the user has set OPENBLAS_CORETYPE; [OpenBLASInfo]
// reports the file, the core OpenBLAS actually runs and its configuration.
// OpenBLAS keeps one process-wide thread count, set from the engine's.
//
// [Auto], the default, runs the native kernels whenever the CPU has a SIMD
// kernel, and OpenBLAS (when it loads) only in place of the scalar kernel.
// The benchmarks put the native kernels at 0.95-1.05 times OpenBLAS's
// SkylakeX kernel on 1024³, the dense layers and the PTB language models'
// LSTM and softmax products, 1.0-1.4 times on the convolutions of the
// CIFAR-10 network, 1.2-1.5 times on the recurrent steps (B packed once), per
// core on Zen 4, and 0.5-0.7 times only on the tiny 10-column products of the
// CNN's last layer; and OpenBLAS's idle threads spin for about 100 ms after
// each call, taking the cores from native threads that would follow, so the
// two are not mixed per shape. The environment variable
// TL_BLAS=native|openblas|auto sets the default engine's backend, and
// TL_GEMM_KERNEL=avx512|avx2|scalar its kernel; [Options] does the same for
// an engine of one's own.
//
// # The default engine
//
// The package-level [Sgemm] and [Threads] use an engine created on first use
// through sync.Once: created lazily, so that importing the package loads no
// library and starts no goroutine; once, so that every caller shares one set
// of worker goroutines. Apart from its thread count it never changes.
package gemm
