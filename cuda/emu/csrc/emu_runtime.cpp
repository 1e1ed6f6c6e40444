// emu_runtime.cpp: the tl CPU emulator of the CUDA driver API, cuBLAS and NVRTC
// subset that package cuda uses (see doc.go). Built by emu.Build into
// libtlcudaemu.so, which stands in for libcuda, libcublas and libnvrtc at once.
//
// Build defines: TL_EMU_BUILD_ID (hash of these sources and the compiler),
// TL_EMU_KERNEL_CACHE (where compiled kernel modules are kept), TL_EMU_CXX
// (the compiler). emu_header_gen.h holds emu_cuda.h as a string.
#define TL_EMU_RUNTIME
#include "emu_cuda.h"
#include "emu_header_gen.h"

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <ucontext.h>
#if !defined(__x86_64__) || defined(TL_EMU_UCONTEXT)
#define TL_EMU_USE_UCONTEXT 1
#endif

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#ifndef TL_EMU_BUILD_ID
#define TL_EMU_BUILD_ID "dev"
#endif
#ifndef TL_EMU_KERNEL_CACHE
#define TL_EMU_KERNEL_CACHE ""
#endif
#ifndef TL_EMU_CXX
#define TL_EMU_CXX "g++"
#endif

#define API extern "C" __attribute__((visibility("default")))

extern char** environ;

typedef int CUresult;
typedef unsigned long long CUdeviceptr;

enum {
  CUDA_SUCCESS = 0,
  CUDA_ERROR_INVALID_VALUE = 1,
  CUDA_ERROR_OUT_OF_MEMORY = 2,
  CUDA_ERROR_NOT_INITIALIZED = 3,
  CUDA_ERROR_INVALID_DEVICE = 101,
  CUDA_ERROR_INVALID_IMAGE = 200,
  CUDA_ERROR_INVALID_CONTEXT = 201,
  CUDA_ERROR_INVALID_HANDLE = 400,
  CUDA_ERROR_ILLEGAL_STATE = 401,
  CUDA_ERROR_NOT_FOUND = 500,
  CUDA_ERROR_NOT_READY = 600,
  CUDA_ERROR_ILLEGAL_ADDRESS = 700,
  CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES = 701,
  CUDA_ERROR_LAUNCH_FAILED = 719,
  CUDA_ERROR_NOT_SUPPORTED = 801,
  CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED = 900,
  CUDA_ERROR_STREAM_CAPTURE_INVALIDATED = 901,
  CUDA_ERROR_UNKNOWN = 999,
};

namespace {

// ---------------------------------------------------------------------------
// Errors: the last failure's detail, appended to cuGetErrorString's text.

struct ErrorState {
  std::mutex mu;
  int code = 0;
  std::string detail;
  std::set<std::string> interned;  // strings handed out stay valid forever
};

ErrorState& errs() {
  static ErrorState* e = new ErrorState;
  return *e;
}

const char* intern(const std::string& s) {
  ErrorState& e = errs();
  std::lock_guard<std::mutex> lk(e.mu);
  return e.interned.insert(s).first->c_str();
}

std::string lastDetail() {
  ErrorState& e = errs();
  std::lock_guard<std::mutex> lk(e.mu);
  return e.detail;
}

std::string vformat(const char* fmt, va_list ap) {
  char buf[1024];
  vsnprintf(buf, sizeof buf, fmt, ap);
  return buf;
}

std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::string s = vformat(fmt, ap);
  va_end(ap);
  return s;
}

int fail(int code, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
int fail(int code, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::string s = vformat(fmt, ap);
  va_end(ap);
  ErrorState& e = errs();
  std::lock_guard<std::mutex> lk(e.mu);
  e.code = code;
  e.detail = s;
  return code;
}

// ---------------------------------------------------------------------------
// Objects behind the handles.

struct Module;
struct Function {
  Module* mod;
  std::string name;
  void (*launch)(void**);
  std::vector<unsigned> sizes;
  int maxDynShared = 48 * 1024;
  bool dead = false;
};

struct Module {
  void* dl;
  std::string path;
  tl_emu_thread** (*slot)(void);
  std::map<std::string, Function*> funcs;
};

struct Event {
  bool recorded = false;
  double ms = 0;
};

struct GemmOp {
  int ta, tb, m, n, k;
  float alpha, beta;
  const float *A, *B;
  float* C;
  int lda, ldb, ldc;
  long long sA, sB, sC;
  int batch;
  int tf32 = 0;                      // CUBLAS_TF32_TENSOR_OP_MATH: inputs rounded to TF32
  const float* const* Ap = nullptr;  // pointer-array batched form
  const float* const* Bp = nullptr;
  float* const* Cp = nullptr;
};

enum OpKind { OP_LAUNCH, OP_COPY, OP_MEMSET, OP_GEMM, OP_EVENT };
enum CopyKind { HTOD, DTOH, DTOD };

struct Op {
  OpKind kind;
  // launch
  Function* f = nullptr;
  unsigned g[3] = {}, b[3] = {};
  unsigned shared = 0;
  std::vector<unsigned char> args;
  std::vector<unsigned> offs;
  // copy and memset
  CopyKind ck = HTOD;
  uintptr_t dst = 0, src = 0;
  size_t bytes = 0;
  unsigned value = 0;
  // gemm
  GemmOp gemm{};
  // event
  Event* ev = nullptr;
};

struct Stream {
  bool capturing = false;
  bool invalid = false;
  std::vector<Op> ops;
};

struct Graph {
  std::vector<Op> ops;
};

struct Cublas {
  Stream* stream = nullptr;
  int mathMode = 0;
};

// ---------------------------------------------------------------------------
// Device memory: host memory with canary-filled guard zones.

const size_t kGuard = 256;

unsigned char canary(size_t i) { return (unsigned char)(0x5Au + 37u * (unsigned)i); }

struct Alloc {
  unsigned char* base;  // kGuard bytes of canary, size bytes, kGuard bytes of canary
  size_t size;
};

struct State {
  std::recursive_mutex mu;
  bool inited = false;
  std::map<uintptr_t, Alloc> allocs;  // by user address
  std::set<void*> streams, events, graphs, execs, modules, cublas;
  std::set<Function*> funcs;
  int capturing = 0;  // streams now capturing
  size_t memLimit = 0;  // device memory, bytes (tl_emu_set_memory_limit); 0: the host's
  size_t memInUse = 0;  // bytes of live allocations
};

State& st() {
  static State* s = new State;
  return *s;
}

thread_local void* curCtx;
char primaryCtx;  // the one context's handle

double nowMs() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

// findAlloc returns the allocation holding [p, p+n), or null.
const Alloc* findAlloc(State& s, uintptr_t p, size_t n, uintptr_t* start) {
  auto it = s.allocs.upper_bound(p);
  if (it == s.allocs.begin()) return nullptr;
  --it;
  if (p < it->first || p + n > it->first + it->second.size || p + n < p) return nullptr;
  if (start) *start = it->first;
  return &it->second;
}

int checkRange(State& s, uintptr_t p, size_t n, const char* what) {
  if (n == 0) return CUDA_SUCCESS;
  uintptr_t start = 0;
  if (findAlloc(s, p, n, &start)) return CUDA_SUCCESS;
  auto it = s.allocs.upper_bound(p);
  if (it != s.allocs.begin()) {
    --it;
    if (p >= it->first && p < it->first + it->second.size)
      return fail(CUDA_ERROR_INVALID_VALUE,
                  "%s: %zu bytes at 0x%llx run past the end of allocation 0x%llx of %zu bytes", what, n,
                  (unsigned long long)p, (unsigned long long)it->first, it->second.size);
  }
  return fail(CUDA_ERROR_INVALID_VALUE, "%s: 0x%llx is not in any live allocation (%zu bytes)", what,
              (unsigned long long)p, n);
}

// checkGuards checks one allocation's canaries and repairs them.
bool checkGuards(uintptr_t user, const Alloc& a, std::string* msg, const char* who) {
  static const struct Pattern {
    unsigned char b[kGuard];
    Pattern() {
      for (size_t i = 0; i < kGuard; i++) b[i] = canary(i);
    }
  } pattern;
  const unsigned char* front = a.base;
  const unsigned char* back = a.base + kGuard + a.size;
  if (memcmp(front, pattern.b, kGuard) == 0 && memcmp(back, pattern.b, kGuard) == 0) return true;
  for (size_t i = 0; i < kGuard; i++) {
    if (front[i] != canary(i)) {
      *msg = format("%s wrote at %zu bytes before the start of allocation 0x%llx of %zu bytes", who, kGuard - i,
                    (unsigned long long)user, a.size);
      for (size_t j = 0; j < kGuard; j++) a.base[j] = canary(j);
      return false;
    }
  }
  for (size_t i = 0; i < kGuard; i++) {
    if (back[i] != canary(i)) {
      *msg = format("%s wrote past the end of allocation 0x%llx of %zu bytes (at byte %zu after it)", who,
                    (unsigned long long)user, a.size, i);
      for (size_t j = 0; j < kGuard; j++) a.base[kGuard + a.size + j] = canary(j);
      return false;
    }
  }
  return true;
}

int checkAllGuards(State& s, const char* who) {
  std::string first;
  int bad = 0;
  for (auto& kv : s.allocs) {
    std::string m;
    if (!checkGuards(kv.first, kv.second, &m, who)) {
      if (bad++ == 0) first = m;
    }
  }
  if (bad == 0) return CUDA_SUCCESS;
  if (bad > 1) first += format(" (and %d more allocations damaged)", bad - 1);
  return fail(CUDA_ERROR_ILLEGAL_ADDRESS, "%s", first.c_str());
}

// ---------------------------------------------------------------------------
// Fibers: each emulated thread of a block is a fiber on its worker's OS thread.

struct Worker;

struct Stack {
  void* mem;
  size_t len;
  char* lo;  // usable range [lo, lo+size)
  size_t size;
  int reg;   // index in the stack registry, or -1
};

// The stack registry maps a stack address to the worker whose fibers use it,
// for the fault handler, which must not touch thread-local storage.
struct StackRec {
  std::atomic<uintptr_t> lo, hi;
  std::atomic<Worker*> w;
};
const int kMaxStacks = 1 << 15;
StackRec stackRegistry[kMaxStacks];
std::atomic<int> stackCount{0};

const size_t kStackSize = 128 * 1024;  // address space only: pages are touched lazily

Stack* newStack(Worker* w) {
  long page = sysconf(_SC_PAGESIZE);
  size_t len = kStackSize + (size_t)page;
  void* mem = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return nullptr;
  mprotect(mem, (size_t)page, PROT_NONE);  // a stack overflow faults instead of corrupting
  int reg = stackCount.fetch_add(1);
  if (reg < kMaxStacks) {
    stackRegistry[reg].w = w;
    stackRegistry[reg].lo = (uintptr_t)mem;
    stackRegistry[reg].hi = (uintptr_t)mem + len;
  } else {
    reg = -1;
  }
  return new Stack{mem, len, (char*)mem + page, kStackSize, reg};
}

void freeStack(Stack* s) {
  if (s->reg >= 0) {
    stackRegistry[s->reg].hi = 0;
    stackRegistry[s->reg].lo = 0;
    stackRegistry[s->reg].w = nullptr;
  }
  munmap(s->mem, s->len);
  delete s;
}

#ifdef TL_EMU_USE_UCONTEXT
struct Ctx {
  ucontext_t uc;
};
#else
struct Ctx {
  void* sp;
};
extern "C" void tl_emu_ctx_switch(void** save, void* to);
extern "C" void tl_emu_ctx_entry(void);
asm(R"(
.text
.p2align 4
.globl tl_emu_ctx_switch
.hidden tl_emu_ctx_switch
.type tl_emu_ctx_switch,@function
tl_emu_ctx_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
.size tl_emu_ctx_switch,.-tl_emu_ctx_switch
.p2align 4
.globl tl_emu_ctx_entry
.hidden tl_emu_ctx_entry
.type tl_emu_ctx_entry,@function
tl_emu_ctx_entry:
  movq %r12, %rdi
  callq *%r13
  ud2
.size tl_emu_ctx_entry,.-tl_emu_ctx_entry
)");
#endif

enum TState { T_NEW, T_READY, T_WAIT_BLOCK, T_WAIT_WARP, T_DONE };

struct Block;
struct Warp {
  int nlanes;
  int count;
  unsigned gen;
  unsigned long long vals[2][32];
};

struct Thread {
  tl_emu_thread pub;
  Block* blk;
  Warp* warp;
  int lane;
  int state;
  Ctx ctx;
  Stack* stack;
};

struct Launch;
struct Worker;

struct Block {
  Worker* w;
  int n;
  int barCount;
  int done;  // threads finished
  int dir;   // +1: threads run in index order between barriers; -1: in reverse
  Thread* threads;
  Warp* warps;
  int nwarps;
};

struct Launch {
  Function* f;
  unsigned g[3], b[3];
  size_t shared;
  void** params;
  long long nblocks;
  int dir = 1;  // the order threads run in between barriers (see scheduleDir)
  std::atomic<long long> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  int code = 0;
  std::string err;

  void setError(int c, const std::string& m) {
    std::lock_guard<std::mutex> lk(mu);
    if (code == 0) {
      code = c;
      err = m;
    }
    failed = true;
  }
};

struct Worker {
  Ctx sched;
  std::vector<Stack*> freeStacks;
  std::vector<Thread> threads;
  std::vector<Warp> warps;
  std::vector<unsigned char> dyn;
  volatile sig_atomic_t inFiber = 0;  // a fiber of this worker is running
  Thread* cur = nullptr;  // the fiber running, or last run
  Launch* L = nullptr;
  tl_emu_thread** slot = nullptr;  // the kernel module's current-thread pointer
  bool abort = false;

  ~Worker() {
    for (Stack* s : freeStacks) freeStack(s);
  }
  Stack* takeStack() {
    if (!freeStacks.empty()) {
      Stack* s = freeStacks.back();
      freeStacks.pop_back();
      return s;
    }
    return newStack(this);
  }
};

thread_local Worker tw;

// fiberMain runs thread t and then, on the same fiber and stack, each next
// thread not yet started: a kernel that never waits runs a whole block in one
// fiber. A thread that waits keeps the fiber; the threads after it get their own.
void fiberMain(void* arg) {
  Thread* t = (Thread*)arg;
  Block* b = t->blk;
  Worker* w = b->w;
  for (;;) {
    w->L->f->launch(w->L->params);
    t->state = T_DONE;
    b->done++;
    Thread* next = t + b->dir;
    if (next < b->threads || next >= b->threads + b->n || next->state != T_NEW || w->abort) break;
    next->stack = t->stack;
    t->stack = nullptr;
    next->state = T_READY;
    t = next;
    w->cur = t;
    *w->slot = &t->pub;
  }
#ifdef TL_EMU_USE_UCONTEXT
  swapcontext(&t->ctx.uc, &w->sched.uc);
#else
  tl_emu_ctx_switch(&t->ctx.sp, w->sched.sp);
#endif
  __builtin_trap();  // a finished fiber is never resumed
}

#ifdef TL_EMU_USE_UCONTEXT
void ucEntry() { fiberMain(tw.cur); }
#endif

void makeCtx(Thread* t) {
#ifdef TL_EMU_USE_UCONTEXT
  getcontext(&t->ctx.uc);
  t->ctx.uc.uc_stack.ss_sp = t->stack->lo;
  t->ctx.uc.uc_stack.ss_size = t->stack->size;
  t->ctx.uc.uc_link = nullptr;
  makecontext(&t->ctx.uc, ucEntry, 0);
#else
  uintptr_t top = ((uintptr_t)t->stack->lo + t->stack->size - 16) & ~(uintptr_t)15;
  void** sp = (void**)(top - 56);
  sp[0] = nullptr;                     // r15
  sp[1] = nullptr;                     // r14
  sp[2] = (void*)&fiberMain;           // r13: the function
  sp[3] = t;                           // r12: its argument
  sp[4] = nullptr;                     // rbx
  sp[5] = nullptr;                     // rbp
  sp[6] = (void*)&tl_emu_ctx_entry;    // return address
  t->ctx.sp = sp;
#endif
}

// toFiber runs t until it blocks or finishes.
void toFiber(Worker* w, Thread* t) {
  w->cur = t;
#ifdef TL_EMU_USE_UCONTEXT
  swapcontext(&w->sched.uc, &t->ctx.uc);
#else
  tl_emu_ctx_switch(&w->sched.sp, t->ctx.sp);
#endif
}

bool prepare(Worker* w, Thread* t);

// toScheduler suspends the calling fiber.
void toScheduler(Thread* t) {
  Worker* w = t->blk->w;
#ifdef TL_EMU_USE_UCONTEXT
  swapcontext(&t->ctx.uc, &w->sched.uc);
#else
  tl_emu_ctx_switch(&t->ctx.sp, w->sched.sp);
#endif
}

// yieldAmong suspends t (already marked waiting) and runs the next runnable
// thread of [first, first+n) after it, switching fiber to fiber without the
// scheduler: a warp's lanes pass each shuffle in one switch each. With none
// runnable, the scheduler decides (another warp, the next pass, or deadlock).
void yieldAmong(Thread* t, Thread* first, int n) {
  Worker* w = t->blk->w;
  int at = (int)(t - first), dir = t->blk->dir;
  for (int d = 1; d < n; d++) {
    Thread* c = first + ((at + dir * d) % n + n) % n;
    if (c->state == T_NEW && !prepare(w, c)) break;
    if (c->state != T_READY) continue;
    w->cur = c;
    *w->slot = &c->pub;
#ifdef TL_EMU_USE_UCONTEXT
    swapcontext(&t->ctx.uc, &c->ctx.uc);
#else
    tl_emu_ctx_switch(&t->ctx.sp, c->ctx.sp);
#endif
    return;
  }
  toScheduler(t);
}

// ---- the block operations kernels call through tl_emu_api ----

void apiSyncthreads(tl_emu_thread* pt) {
  Thread* t = (Thread*)pt->rt;
  Block* b = t->blk;
  if (++b->barCount == b->n) {
    b->barCount = 0;
    for (int i = 0; i < b->n; i++)
      if (b->threads[i].state == T_WAIT_BLOCK) b->threads[i].state = T_READY;
    return;
  }
  t->state = T_WAIT_BLOCK;
  yieldAmong(t, b->threads, b->n);
}

// warpBarrier returns once every lane of t's warp has arrived.
void warpBarrier(Thread* t) {
  Warp* w = t->warp;
  if (++w->count == w->nlanes) {
    w->count = 0;
    w->gen++;
    Thread* first = t - t->lane;
    for (int i = 0; i < w->nlanes; i++)
      if (first[i].state == T_WAIT_WARP) first[i].state = T_READY;
    return;
  }
  t->state = T_WAIT_WARP;
  yieldAmong(t, t - t->lane, w->nlanes);
}

void apiFail(tl_emu_thread* pt, const char* msg) {
  Thread* t = (Thread*)pt->rt;
  Worker* w = t->blk->w;
  w->L->setError(CUDA_ERROR_LAUNCH_FAILED,
                 format("kernel %s, block (%u,%u,%u), thread (%u,%u,%u): %s", w->L->f->name.c_str(), pt->blockIdx.x,
                        pt->blockIdx.y, pt->blockIdx.z, pt->threadIdx.x, pt->threadIdx.y, pt->threadIdx.z, msg));
  w->abort = true;
  toScheduler(t);
  __builtin_trap();
}

unsigned long long apiShfl(tl_emu_thread* pt, unsigned long long v, int arg, int mode, int width) {
  Thread* t = (Thread*)pt->rt;
  if (width <= 0 || width > 32 || (width & (width - 1)) != 0)
    apiFail(pt, "warp shuffle width is not a power of two in [1, 32]");
  Warp* w = t->warp;
  unsigned buf = w->gen & 1;  // alternate buffers: one barrier per shuffle suffices
  int lane = t->lane;
  w->vals[buf][lane] = v;
  warpBarrier(t);
  int base = lane & ~(width - 1);
  int src;
  switch (mode) {
    case 0:
      src = base + (arg & (width - 1));
      break;
    case 1:
      src = lane - arg;
      if (src < base) return v;
      break;
    case 2:
      src = lane + arg;
      if (src >= base + width) return v;
      break;
    default:
      src = lane ^ arg;
      if (src < base || src >= base + width) return v;
      break;
  }
  if (src < 0 || src >= w->nlanes) return v;  // a lane the partial warp lacks
  return w->vals[buf][src];
}

void apiSyncwarp(tl_emu_thread* pt) { warpBarrier((Thread*)pt->rt); }

unsigned apiBallot(tl_emu_thread* pt, int pred) {
  Thread* t = (Thread*)pt->rt;
  Warp* w = t->warp;
  unsigned buf = w->gen & 1;
  w->vals[buf][t->lane] = pred != 0;
  warpBarrier(t);
  unsigned m = 0;
  for (int i = 0; i < w->nlanes; i++)
    if (w->vals[buf][i]) m |= 1u << i;
  return m;
}

const tl_emu_api kApi = {TL_EMU_ABI, apiSyncthreads, apiShfl, apiSyncwarp, apiBallot, apiFail};

// ---- running blocks ----

// prepare gives a new thread its stack and context.
bool prepare(Worker* w, Thread* t) {
  t->stack = w->takeStack();
  if (!t->stack) return false;
  makeCtx(t);
  t->state = T_READY;
  return true;
}

void runBlock(Worker* w, Launch* L, long long bi) {
  unsigned gx = L->g[0], gy = L->g[1];
  uint3 bid = {(unsigned)(bi % gx), (unsigned)((bi / gx) % gy), (unsigned)(bi / ((long long)gx * gy))};
  int bx = (int)L->b[0], by = (int)L->b[1], bz = (int)L->b[2];
  int n = bx * by * bz;
  int nw = (n + 31) / 32;
  if ((int)w->threads.size() < n) w->threads.resize(n);
  if ((int)w->warps.size() < nw) w->warps.resize(nw);
  if (w->dyn.size() < L->shared + 16) w->dyn.resize(L->shared + 16);
  memset(w->dyn.data(), 0xFF, L->shared);  // poisoned, like fresh device memory
  Block blk{w, n, 0, 0, L->dir, w->threads.data(), w->warps.data(), nw};
  for (int i = 0; i < nw; i++) {
    Warp& wp = w->warps[i];
    wp.nlanes = (i == nw - 1) ? n - 32 * i : 32;
    wp.count = 0;
    wp.gen = 0;
  }
  for (int i = 0; i < n; i++) {
    Thread& t = w->threads[i];
    t.pub.threadIdx = {(unsigned)(i % bx), (unsigned)((i / bx) % by), (unsigned)(i / (bx * by))};
    t.pub.blockIdx = bid;
    t.pub.blockDim = dim3(L->b[0], L->b[1], L->b[2]);
    t.pub.gridDim = dim3(L->g[0], L->g[1], L->g[2]);
    t.pub.dyn_shared = L->shared ? w->dyn.data() : nullptr;
    t.pub.rt = &t;
    t.blk = &blk;
    t.warp = &w->warps[i / 32];
    t.lane = i % 32;
    t.state = T_NEW;
    t.stack = nullptr;
  }
  w->abort = false;
  for (;;) {
    bool progressed = false;
    for (int k = 0; k < n && !w->abort; k++) {
      Thread& t = w->threads[blk.dir > 0 ? k : n - 1 - k];
      if (t.state == T_NEW && !prepare(w, &t)) {
        L->setError(CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES, "cannot map a fiber stack");
        w->abort = true;
        break;
      }
      if (t.state != T_READY) continue;
      *w->slot = &t.pub;
      w->inFiber = 1;
      toFiber(w, &t);
      w->inFiber = 0;
      progressed = true;
      Thread* r = w->cur;  // fibers hand over to each other: the one that returned
      if (r->state == T_DONE) {  // the fiber ended: its last thread holds the stack
        w->freeStacks.push_back(r->stack);
        r->stack = nullptr;
      }
    }
    if (w->abort || blk.done == n) break;
    if (!progressed) {
      int atBlock = 0, atWarp = 0;
      for (int i = 0; i < n; i++) {
        atBlock += w->threads[i].state == T_WAIT_BLOCK;
        atWarp += w->threads[i].state == T_WAIT_WARP;
      }
      L->setError(CUDA_ERROR_LAUNCH_FAILED,
                  format("kernel %s, block (%u,%u,%u) of %d threads: deadlock: %d threads wait at __syncthreads, "
                         "%d at a warp shuffle/__syncwarp/ballot, %d have exited (every thread of a block must reach "
                         "each __syncthreads, every lane of a warp each shuffle)",
                         L->f->name.c_str(), bid.x, bid.y, bid.z, n, atBlock, atWarp, blk.done));
      break;
    }
  }
  for (int i = 0; i < n; i++) {
    Thread& t = w->threads[i];
    if (t.stack) {
      w->freeStacks.push_back(t.stack);
      t.stack = nullptr;
    }
  }
  *w->slot = nullptr;
}

void workerLoop(Launch* L) {
  Worker* w = &tw;
  w->L = L;
  w->slot = L->f->mod->slot();
  while (!L->failed) {
    long long b = L->next.fetch_add(1);
    if (b >= L->nblocks) break;
    runBlock(w, L, b);
  }
  w->L = nullptr;
}

// ---- faults: a kernel's bad access fails its launch instead of the process ----

struct sigaction prevFault[2];  // SIGSEGV, SIGBUS handlers before ours

void forwardFault(int sig, siginfo_t* si, void* uc) {
  struct sigaction* prev = &prevFault[sig == SIGBUS];
  if ((prev->sa_flags & SA_SIGINFO) && prev->sa_sigaction) {
    prev->sa_sigaction(sig, si, uc);
    return;
  }
  if (!(prev->sa_flags & SA_SIGINFO) && prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN) {
    prev->sa_handler(sig);
    return;
  }
  signal(sig, SIG_DFL);  // the access repeats and ends the process, as without us
}

uintptr_t faultSP(void* uc) {
#if defined(__x86_64__)
  return (uintptr_t)((ucontext_t*)uc)->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
  return (uintptr_t)((ucontext_t*)uc)->uc_mcontext.sp;
#else
  (void)uc;
  return 0;
#endif
}

void describeAddress(uintptr_t a, char* buf, size_t n) {
  State& s = st();  // the launching thread holds s.mu; the map does not change during a launch
  auto it = s.allocs.upper_bound(a);
  if (it != s.allocs.begin()) {
    auto prev = std::prev(it);
    if (a < prev->first + prev->second.size + 65536) {
      snprintf(buf, n, "%llu bytes past the start of allocation 0x%llx of %zu bytes",
               (unsigned long long)(a - prev->first), (unsigned long long)prev->first, prev->second.size);
      return;
    }
  }
  if (it != s.allocs.end() && it->first - a < 65536) {
    snprintf(buf, n, "%llu bytes before allocation 0x%llx of %zu bytes", (unsigned long long)(it->first - a),
             (unsigned long long)it->first, it->second.size);
    return;
  }
  snprintf(buf, n, "not near any live allocation");
}

void onFault(int sig, siginfo_t* si, void* uc) {
  uintptr_t sp = faultSP(uc);
  Worker* w = nullptr;
  const StackRec* rec = nullptr;
  int n = stackCount.load();
  if (n > kMaxStacks) n = kMaxStacks;
  for (int i = 0; i < n && sp; i++) {
    if (sp >= stackRegistry[i].lo && sp < stackRegistry[i].hi) {
      w = stackRegistry[i].w;
      rec = &stackRegistry[i];
      break;
    }
  }
  if (!w || !w->inFiber || !w->cur || !w->L) {
    forwardFault(sig, si, uc);
    return;
  }
  w->inFiber = 0;
  Thread* t = w->cur;
  uintptr_t addr = (uintptr_t)si->si_addr;
  char where[200];
  long page = sysconf(_SC_PAGESIZE);
  if (addr >= rec->lo && addr < rec->lo + (uintptr_t)page)
    snprintf(where, sizeof where, "the thread's stack overflowed (%zu KiB per emulated thread: a large local array?)",
             kStackSize / 1024);
  else
    describeAddress(addr, where, sizeof where);
  char msg[512];
  const tl_emu_thread& p = t->pub;
  snprintf(msg, sizeof msg, "kernel %s, block (%u,%u,%u), thread (%u,%u,%u): %s at address 0x%llx, %s",
           w->L->f->name.c_str(), p.blockIdx.x, p.blockIdx.y, p.blockIdx.z, p.threadIdx.x, p.threadIdx.y,
           p.threadIdx.z, sig == SIGBUS ? "bus error" : "invalid memory access", (unsigned long long)addr, where);
  w->L->setError(CUDA_ERROR_ILLEGAL_ADDRESS, msg);
  w->abort = true;
  toScheduler(t);  // the fiber is abandoned; the scheduler ends the launch
}

// installFaultHandler puts onFault before the handlers already there (Go's),
// which get every fault that is not in a kernel's fiber. TL_EMU_FAULTS=0 skips it.
void installFaultHandler() {
#if defined(__x86_64__) || defined(__aarch64__)
  static std::once_flag once;
  std::call_once(once, [] {
    const char* e = getenv("TL_EMU_FAULTS");
    if (e && strcmp(e, "0") == 0) return;
    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_sigaction = onFault;
    act.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER | SA_RESTART;
    sigemptyset(&act.sa_mask);
    sigaction(SIGSEGV, &act, &prevFault[0]);
    sigaction(SIGBUS, &act, &prevFault[1]);
  });
#endif
}

// Pool: persistent OS threads that run blocks alongside the launching thread.
struct Pool {
  std::mutex mu;
  std::condition_variable cv, doneCv;
  Launch* job = nullptr;
  unsigned long gen = 0;
  int want = 0, running = 0, started = 0;
  int size = 0;
};

Pool& pool() {
  static Pool* p = [] {
    Pool* p = new Pool;
    int hw = (int)std::thread::hardware_concurrency();
    p->size = hw < 1 ? 1 : (hw > 4 ? 4 : hw);
    if (const char* e = getenv("TL_EMU_THREADS")) {
      int v = atoi(e);
      if (v >= 1 && v <= 64) p->size = v;
    }
    return p;
  }();
  return *p;
}

void poolThread(Pool* p) {
  stack_t ss;
  memset(&ss, 0, sizeof ss);
  ss.ss_size = 64 * 1024;
  ss.ss_sp = malloc(ss.ss_size);
  if (ss.ss_sp) sigaltstack(&ss, nullptr);  // the fault handler runs here when a fiber's stack overflowed
  unsigned long seen = 0;
  std::unique_lock<std::mutex> lk(p->mu);
  for (;;) {
    p->cv.wait(lk, [&] { return p->gen != seen; });
    seen = p->gen;
    if (p->want <= 0) continue;
    p->want--;
    p->running++;
    Launch* L = p->job;
    lk.unlock();
    workerLoop(L);
    lk.lock();
    if (--p->running == 0) p->doneCv.notify_all();
  }
}

int poolSize() { return pool().size; }

void runLaunch(Launch* L) {
  installFaultHandler();
  Pool& p = pool();
  long long helpers = L->nblocks - 1;
  if (helpers > p.size - 1) helpers = p.size - 1;
  if (helpers > 0) {
    std::unique_lock<std::mutex> lk(p.mu);
    while (p.started < helpers) {
      std::thread(poolThread, &p).detach();
      p.started++;
    }
    p.job = L;
    p.want = (int)helpers;
    p.gen++;
    p.cv.notify_all();
  }
  workerLoop(L);
  if (helpers > 0) {
    std::unique_lock<std::mutex> lk(p.mu);
    p.want = 0;  // helpers that have not woken yet are not needed
    p.doneCv.wait(lk, [&] { return p.running == 0; });
    p.job = nullptr;
  }
}

// ---------------------------------------------------------------------------
// Operations, run now or recorded during capture and replayed.

int checkLaunchShape(Function* f, const unsigned g[3], const unsigned b[3], unsigned shared) {
  if (g[0] == 0 || g[1] == 0 || g[2] == 0 || b[0] == 0 || b[1] == 0 || b[2] == 0)
    return fail(CUDA_ERROR_INVALID_VALUE, "launch of %s: zero grid or block dimension (%u,%u,%u)x(%u,%u,%u)",
                f->name.c_str(), g[0], g[1], g[2], b[0], b[1], b[2]);
  if (g[0] > 2147483647u || g[1] > 65535 || g[2] > 65535)
    return fail(CUDA_ERROR_INVALID_VALUE, "launch of %s: grid (%u,%u,%u) exceeds (2^31-1, 65535, 65535)",
                f->name.c_str(), g[0], g[1], g[2]);
  unsigned long long nt = (unsigned long long)b[0] * b[1] * b[2];
  if (b[0] > 1024 || b[1] > 1024 || b[2] > 64 || nt > 1024)
    return fail(CUDA_ERROR_INVALID_VALUE, "launch of %s: block (%u,%u,%u) exceeds 1024 threads or (1024,1024,64)",
                f->name.c_str(), b[0], b[1], b[2]);
  if ((int)shared > f->maxDynShared)
    return fail(CUDA_ERROR_INVALID_VALUE,
                "launch of %s: %u bytes of dynamic shared memory exceed the limit of %d "
                "(raise it with cuFuncSetAttribute MAX_DYNAMIC_SHARED_SIZE_BYTES)",
                f->name.c_str(), shared, f->maxDynShared);
  return CUDA_SUCCESS;
}

// scheduleDir picks the order threads run in between barriers for the next
// launch. Any order is valid for a correct kernel; alternating them (the
// default) makes a missing __syncthreads or __syncwarp change results.
// TL_EMU_SCHEDULE=forward or reverse pins it.
int scheduleDir() {
  static std::atomic<unsigned long long> launches{0};
  static const int mode = [] {
    const char* e = getenv("TL_EMU_SCHEDULE");
    if (e && strcmp(e, "forward") == 0) return 1;
    if (e && strcmp(e, "reverse") == 0) return -1;
    return 0;
  }();
  if (mode != 0) return mode;
  return launches.fetch_add(1) % 2 == 0 ? 1 : -1;
}

int runKernel(State& s, Op& op) {
  Function* f = op.f;
  if (f->dead) return fail(CUDA_ERROR_INVALID_HANDLE, "launch of %s: its module was unloaded", f->name.c_str());
  std::vector<void*> params(op.offs.size());
  for (size_t i = 0; i < op.offs.size(); i++) params[i] = op.args.data() + op.offs[i];
  Launch L;
  L.f = f;
  memcpy(L.g, op.g, sizeof L.g);
  memcpy(L.b, op.b, sizeof L.b);
  L.shared = op.shared;
  L.params = params.data();
  L.nblocks = (long long)op.g[0] * op.g[1] * op.g[2];
  L.dir = scheduleDir();
  runLaunch(&L);
  std::string who = "kernel " + f->name;
  int guards = checkAllGuards(s, who.c_str());
  if (L.code != 0) return fail(L.code, "%s", L.err.c_str());
  return guards;
}

// tf32 rounds x to TF32 (8-bit exponent, 10-bit mantissa; to nearest, ties to
// even), as tensor cores read their inputs in CUBLAS_TF32_TENSOR_OP_MATH.
static inline float tf32(float x) {
  uint32_t u;
  memcpy(&u, &x, 4);
  if ((u & 0x7f800000u) != 0x7f800000u) {  // finite: round off the low 13 bits
    u += 0xfffu + ((u >> 13) & 1u);
    u &= 0xffffe000u;
  }
  memcpy(&x, &u, 4);
  return x;
}

// gemmPart computes rows [i0, i1) of columns [j0, j1) of C.
void gemmPart(const GemmOp& g, const float* A, const float* B, float* C, int i0, int i1, int j0, int j1) {
  int k = g.k, rows = i1 - i0;
  std::vector<double> acc(rows), bcol(k);
  auto in = [&g](float x) -> double { return g.tf32 ? tf32(x) : x; };
  for (int j = j0; j < j1; j++) {
    for (int i = 0; i < rows; i++) acc[i] = 0;
    if (g.alpha != 0 && k > 0) {
      for (int l = 0; l < k; l++) bcol[l] = in(g.tb == 0 ? B[l + (long long)j * g.ldb] : B[j + (long long)l * g.ldb]);
      if (g.ta == 0) {
        for (int l = 0; l < k; l++) {
          const float* a = A + (long long)l * g.lda + i0;
          double bv = bcol[l];
          for (int i = 0; i < rows; i++) acc[i] += in(a[i]) * bv;
        }
      } else {
        for (int i = 0; i < rows; i++) {
          const float* a = A + (long long)(i0 + i) * g.lda;
          double sum = 0;
          for (int l = 0; l < k; l++) sum += in(a[l]) * bcol[l];
          acc[i] = sum;
        }
      }
    }
    float* c = C + (long long)j * g.ldc + i0;
    for (int i = 0; i < rows; i++) {
      double v = (double)g.alpha * acc[i];
      if (g.beta != 0) v += (double)g.beta * c[i];  // beta == 0: C is not read (it may hold NaN)
      c[i] = (float)v;
    }
  }
}

int poolSize();

// gemmOne splits a large product over threads, along its longer side of C.
void gemmOne(const GemmOp& g, const float* A, const float* B, float* C) {
  double work = (double)g.m * g.n * (g.k > 0 ? g.k : 1);
  int nt = work < (1 << 22) ? 1 : poolSize();
  bool byCols = g.n >= g.m;
  int len = byCols ? g.n : g.m;
  if (nt > len) nt = len;
  if (nt <= 1) {
    gemmPart(g, A, B, C, 0, g.m, 0, g.n);
    return;
  }
  std::vector<std::thread> ts;
  for (int t = 0; t < nt; t++) {
    int lo = (int)((long long)len * t / nt), hi = (int)((long long)len * (t + 1) / nt);
    if (byCols)
      ts.emplace_back(gemmPart, std::cref(g), A, B, C, 0, g.m, lo, hi);
    else
      ts.emplace_back(gemmPart, std::cref(g), A, B, C, lo, hi, 0, g.n);
  }
  for (auto& t : ts) t.join();
}

// gemmExtent: bytes from a matrix's first element to the end of its last.
size_t gemmExtent(int rows, int cols, int ld) {
  if (rows == 0 || cols == 0) return 0;
  return ((size_t)(cols - 1) * ld + rows) * sizeof(float);
}

int runGemm(State& s, const GemmOp& g) {
  int rowsA = g.ta == 0 ? g.m : g.k, colsA = g.ta == 0 ? g.k : g.m;
  int rowsB = g.tb == 0 ? g.k : g.n, colsB = g.tb == 0 ? g.n : g.k;
  bool readAB = g.alpha != 0 && g.k > 0;
  for (int bi = 0; bi < g.batch; bi++) {
    const float* A = g.Ap ? g.Ap[bi] : g.A + bi * g.sA;
    const float* B = g.Bp ? g.Bp[bi] : g.B + bi * g.sB;
    float* C = g.Cp ? g.Cp[bi] : g.C + bi * g.sC;
    const char* what[3] = {"A", "B", "C"};
    uintptr_t ptrs[3] = {(uintptr_t)A, (uintptr_t)B, (uintptr_t)C};
    size_t ext[3] = {readAB ? gemmExtent(rowsA, colsA, g.lda) : 0, readAB ? gemmExtent(rowsB, colsB, g.ldb) : 0,
                     gemmExtent(g.m, g.n, g.ldc)};
    for (int i = 0; i < 3; i++) {
      if (ext[i] && !findAlloc(s, ptrs[i], ext[i], nullptr))
        return fail(CUDA_ERROR_ILLEGAL_ADDRESS, "cublasSgemm (m=%d n=%d k=%d, batch %d): matrix %s at 0x%llx (%zu bytes) is not inside one "
                        "live allocation",
                    g.m, g.n, g.k, bi, what[i], (unsigned long long)ptrs[i], ext[i]);
    }
    gemmOne(g, A, B, C);
  }
  return 0;
}

int runOp(State& s, Op& op) {
  switch (op.kind) {
    case OP_LAUNCH:
      return runKernel(s, op);
    case OP_COPY: {
      if (op.ck != HTOD) {
        int r = checkRange(s, op.src, op.bytes, "memcpy source");
        if (r) return r;
      }
      if (op.ck != DTOH) {
        int r = checkRange(s, op.dst, op.bytes, "memcpy destination");
        if (r) return r;
      }
      memmove((void*)op.dst, (const void*)op.src, op.bytes);
      return 0;
    }
    case OP_MEMSET: {
      int r = checkRange(s, op.dst, op.bytes * 4, "cuMemsetD32");
      if (r) return r;
      unsigned* p = (unsigned*)op.dst;
      for (size_t i = 0; i < op.bytes; i++) p[i] = op.value;
      return 0;
    }
    case OP_GEMM:
      return runGemm(s, op.gemm);
    case OP_EVENT:
      op.ev->recorded = true;
      op.ev->ms = nowMs();
      return 0;
  }
  return fail(CUDA_ERROR_UNKNOWN, "bad operation kind %d", (int)op.kind);
}

// invalidateAll ends every capture in progress with an error, as a synchronous
// call during capture does on the real driver.
void invalidateAll(State& s) {
  for (void* p : s.streams) {
    Stream* q = (Stream*)p;
    if (q->capturing) q->invalid = true;
  }
}

int syncDuringCapture(State& s, const char* what) {
  invalidateAll(s);
  return fail(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED,
              "%s while a stream is being captured (the capture is now invalid; only async work on the capturing "
              "stream may be queued)",
              what);
}

// submit runs op now, or records it when stream is capturing. status maps
// CUresult codes to the caller's error type (cuBLAS).
int submit(State& s, Stream* q, Op&& op, const char* what) {
  if (q && q->capturing) {
    if (q->invalid)
      return fail(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, "%s: the capture was invalidated by an earlier call", what);
    q->ops.push_back(std::move(op));
    return 0;
  }
  if (!q && s.capturing > 0) return syncDuringCapture(s, (std::string(what) + " on the NULL stream").c_str());
  return runOp(s, op);
}

#define LOCK()        \
  State& s = st();    \
  std::lock_guard<std::recursive_mutex> lk(s.mu)

#define NEED_INIT()                                                                   \
  do {                                                                                \
    if (!s.inited) return fail(CUDA_ERROR_NOT_INITIALIZED, "cuInit was not called"); \
  } while (0)

#define NEED_CTX()                                                                                              \
  do {                                                                                                          \
    NEED_INIT();                                                                                                \
    if (curCtx == nullptr)                                                                                      \
      return fail(CUDA_ERROR_INVALID_CONTEXT,                                                                   \
                  "no current context on this OS thread (call cuCtxSetCurrent on the thread that calls; pin " \
                  "goroutines with runtime.LockOSThread)");                                                     \
  } while (0)

int streamOf(State& s, void* h, Stream** q) {
  *q = nullptr;
  if (h == nullptr) return 0;
  if (!s.streams.count(h)) return fail(CUDA_ERROR_INVALID_HANDLE, "unknown stream %p", h);
  *q = (Stream*)h;
  return 0;
}

// ---------------------------------------------------------------------------
// NVRTC support.

struct Program {
  std::string src, name;
  std::vector<std::pair<std::string, std::string>> headers;  // name, content
  std::string log, image;
};

std::string hashHex(const std::string& data) {
  unsigned long long h1 = 1469598103934665603ull, h2 = 0x9e3779b97f4a7c15ull;
  for (unsigned char c : data) {
    h1 = (h1 ^ c) * 1099511628211ull;
    h2 = (h2 ^ c) * 0x100000001b3ull + 0x632be59bd9b4e019ull;
  }
  char buf[40];
  snprintf(buf, sizeof buf, "%016llx%016llx", h1, h2);
  return buf;
}

// stripComments blanks comments and string/char literals, keeping offsets.
std::string stripComments(const std::string& s) {
  std::string o = s;
  size_t n = s.size();
  for (size_t i = 0; i < n;) {
    if (s[i] == '/' && i + 1 < n && s[i + 1] == '/') {
      while (i < n && s[i] != '\n') o[i++] = ' ';
    } else if (s[i] == '/' && i + 1 < n && s[i + 1] == '*') {
      o[i] = o[i + 1] = ' ';
      i += 2;
      while (i < n && !(s[i] == '*' && i + 1 < n && s[i + 1] == '/')) {
        if (s[i] != '\n') o[i] = ' ';
        i++;
      }
      if (i < n) o[i] = o[i + 1] = ' ', i += 2;
    } else if (s[i] == '"' || s[i] == '\'') {
      char q = s[i++];
      while (i < n && s[i] != q && s[i] != '\n') {
        if (s[i] == '\\') o[i++] = ' ';
        if (i < n) o[i++] = ' ';
      }
      i++;
    } else {
      i++;
    }
  }
  return o;
}

bool isIdent(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }

// kernelNames finds every extern "C" __global__ void NAME( in the source.
std::vector<std::string> kernelNames(const std::string& src) {
  std::string s = stripComments(src);
  // String literals were blanked, so look for `extern` followed by `"C"` in src.
  std::vector<std::string> names;
  size_t pos = 0;
  while ((pos = s.find("__global__", pos)) != std::string::npos) {
    size_t at = pos;
    pos += 10;
    if ((at > 0 && isIdent(s[at - 1])) || (pos < s.size() && isIdent(s[pos]))) continue;
    // Preceded by extern "C"?
    size_t j = at;
    while (j > 0 && isspace((unsigned char)s[j - 1])) j--;
    if (j < 3 || src.compare(j - 3, 3, "\"C\"") != 0) continue;
    j -= 3;
    while (j > 0 && isspace((unsigned char)s[j - 1])) j--;
    if (j < 6 || s.compare(j - 6, 6, "extern") != 0) continue;
    // Then: [__launch_bounds__(...)] void [__launch_bounds__(...)] NAME (
    size_t k = pos;
    std::string ident;
    for (int guard = 0; guard < 8; guard++) {
      while (k < s.size() && isspace((unsigned char)s[k])) k++;
      size_t b = k;
      while (k < s.size() && isIdent(s[k])) k++;
      ident = s.substr(b, k - b);
      if (ident == "__launch_bounds__") {
        int depth = 0;
        while (k < s.size()) {
          if (s[k] == '(') depth++;
          if (s[k] == ')' && --depth == 0) {
            k++;
            break;
          }
          k++;
        }
        continue;
      }
      if (ident == "void" || ident == "static" || ident == "inline" || ident == "__noinline__") continue;
      break;
    }
    while (k < s.size() && isspace((unsigned char)s[k])) k++;
    if (!ident.empty() && k < s.size() && s[k] == '(') names.push_back(ident);
  }
  return names;
}

std::string kernelCacheDir() {
  if (const char* e = getenv("TL_EMU_KERNEL_CACHE"); e && *e) return e;
  if (TL_EMU_KERNEL_CACHE[0]) return TL_EMU_KERNEL_CACHE;
  std::string base;
  if (const char* x = getenv("XDG_CACHE_HOME"); x && *x)
    base = x;
  else if (const char* h = getenv("HOME"); h && *h)
    base = std::string(h) + "/.cache";
  else
    base = "/tmp";
  return base + "/tl/emu/kernels";
}

bool mkdirAll(const std::string& path) {
  std::string cur;
  for (size_t i = 0; i <= path.size(); i++) {
    if (i == path.size() || path[i] == '/') {
      if (!cur.empty()) mkdir(cur.c_str(), 0755);
    }
    if (i < path.size()) cur += path[i];
  }
  struct stat sb;
  return stat(path.c_str(), &sb) == 0 && S_ISDIR(sb.st_mode);
}

bool writeFile(const std::string& path, const std::string& data) {
  FILE* f = fopen(path.c_str(), "wb");
  if (!f) return false;
  bool ok = fwrite(data.data(), 1, data.size(), f) == data.size();
  return fclose(f) == 0 && ok;
}

std::string readFile(const std::string& path) {
  std::string out;
  FILE* f = fopen(path.c_str(), "rb");
  if (!f) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  fclose(f);
  return out;
}

void removeTree(const std::string& dir) {
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n == "." || n == "..") continue;
      unlink((dir + "/" + n).c_str());
    }
    closedir(d);
  }
  rmdir(dir.c_str());
}

// removeStaleTemps deletes compile folders older than an hour, left by killed processes.
void removeStaleTemps(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> old;
  time_t now = time(nullptr);
  while (dirent* e = readdir(d)) {
    if (strncmp(e->d_name, "tmp-", 4) != 0) continue;
    std::string path = dir + "/" + e->d_name;
    struct stat sb;
    if (stat(path.c_str(), &sb) == 0 && S_ISDIR(sb.st_mode) && now - sb.st_mtime > 3600) old.push_back(path);
  }
  closedir(d);
  for (auto& p : old) removeTree(p);
}

// runCompiler runs argv with stdout and stderr to logPath; returns the exit status or -1.
int runCompiler(const std::vector<std::string>& args, const std::string& logPath, std::string* why) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back((char*)a.c_str());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, logPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawnattr_t at;
  posix_spawnattr_init(&at);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setsigdefault(&at, &all);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid;
  int rc = posix_spawnp(&pid, argv[0], &fa, &at, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  if (rc != 0) {
    *why = format("cannot run %s: %s", argv[0], strerror(rc));
    return -1;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      *why = format("waiting for %s: %s", argv[0], strerror(errno));
      return -1;
    }
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  *why = format("%s was killed by signal %d", argv[0], WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  return -1;
}

// An image ("CUBIN") is the compile's whole input, so that cuModuleLoadData can
// rebuild a module whose .so left the cache (package cuda keeps images on disk
// longer than this cache may live), and always loads one built by this runtime.
const char kImageMagic[] = "TLEMU-MODULE-2\n";

struct Unit {
  std::string text;               // the translation unit: #line, source, launchers
  std::vector<std::string> defs;  // -D, -U and -I options
  std::vector<std::pair<std::string, std::string>> headers;  // name, content
};

// launchers generates, for each extern "C" __global__ function, the entry points
// the runtime looks up: tl_emu_launcher_NAME and tl_emu_sizes_NAME.
std::string launchers(const std::string& src) {
  std::string out = "\n// ---- tl emulator launchers ----\n";
  for (const std::string& k : kernelNames(src)) {
    out += "extern \"C\" __attribute__((visibility(\"default\"))) void tl_emu_launcher_" + k +
           "(void** p) { tl_emu_invoke(&" + k + ", p); }\n";
    out += "extern \"C\" __attribute__((visibility(\"default\"))) int tl_emu_sizes_" + k +
           "(unsigned* s, int n) { return tl_emu_param_sizes(&" + k + ", s, n); }\n";
  }
  return out;
}

void putField(std::string* out, const std::string& f) {
  *out += std::to_string(f.size()) + ":" + f;
}

bool getField(const char** p, const char* end, std::string* f) {
  char* colon = nullptr;
  unsigned long long n = strtoull(*p, &colon, 10);
  if (colon == *p || colon >= end || *colon != ':' || n > (unsigned long long)(end - colon - 1)) return false;
  f->assign(colon + 1, n);
  *p = colon + 1 + n;
  return true;
}

std::string encodeUnit(const Unit& u) {
  std::string out = kImageMagic;
  putField(&out, u.text);
  putField(&out, std::to_string(u.defs.size()));
  for (auto& d : u.defs) putField(&out, d);
  putField(&out, std::to_string(u.headers.size()));
  for (auto& h : u.headers) {
    putField(&out, h.first);
    putField(&out, h.second);
  }
  return out;
}

bool decodeUnit(const char* img, Unit* u) {
  size_t ml = strlen(kImageMagic);
  if (strncmp(img, kImageMagic, ml) != 0) return false;
  const char* p = img + ml;
  const char* end = p + strlen(p);
  std::string n;
  if (!getField(&p, end, &u->text) || !getField(&p, end, &n)) return false;
  for (long i = atol(n.c_str()); i > 0; i--) {
    std::string d;
    if (!getField(&p, end, &d)) return false;
    u->defs.push_back(d);
  }
  if (!getField(&p, end, &n)) return false;
  for (long i = atol(n.c_str()); i > 0; i--) {
    std::string name, content;
    if (!getField(&p, end, &name) || !getField(&p, end, &content)) return false;
    u->headers.push_back({name, content});
  }
  return p == end;
}

// buildUnit compiles u with g++ into the kernel cache, unless it is there, and
// sets *so to the module's path; *log gets the compiler's output.
int buildUnit(const Unit& u, std::string* so, std::string* log) {
  std::string keyData = std::string(TL_EMU_BUILD_ID) + '\0' + tl_emu_header_src + '\0' + u.text;
  for (auto& d : u.defs) keyData += '\0' + d;
  for (auto& h : u.headers) keyData += '\0' + h.first + '\0' + h.second;
  std::string dir = kernelCacheDir();
  if (!mkdirAll(dir)) {
    *log = "tl emulator: cannot create the kernel cache directory " + dir + "\n";
    return 11;
  }
  *so = dir + "/k-" + hashHex(keyData) + ".so";
  struct stat sb;
  if (stat(so->c_str(), &sb) == 0) return 0;
  removeStaleTemps(dir);
  std::string tmpl = dir + "/tmp-XXXXXX";
  std::vector<char> tb(tmpl.begin(), tmpl.end());
  tb.push_back(0);
  if (!mkdtemp(tb.data())) {
    *log = "tl emulator: mkdtemp in " + dir + ": " + strerror(errno) + "\n";
    return 11;
  }
  std::string tmp = tb.data();
  bool ok = writeFile(tmp + "/emu_cuda.h", tl_emu_header_src) && writeFile(tmp + "/unit.cu", u.text);
  for (auto& h : u.headers) {
    if (h.first.empty() || h.first.find('/') != std::string::npos || h.first.find("..") != std::string::npos) {
      *log = "tl emulator: header name " + h.first + " must be a plain file name\n";
      removeTree(tmp);
      return 3;
    }
    ok = ok && writeFile(tmp + "/" + h.first, h.second);
  }
  if (!ok) {
    *log = "tl emulator: cannot write the sources into " + tmp + "\n";
    removeTree(tmp);
    return 11;
  }
  const char* cxx = getenv("TL_EMU_CXX");
  std::vector<std::string> args = {cxx && *cxx ? cxx : TL_EMU_CXX,
                                   "-std=c++17",
                                   "-O1",
                                   "-shared",
                                   "-fPIC",
                                   "-fno-strict-aliasing",
                                   "-fno-exceptions",  // as NVRTC: no throw, no typeid,
                                   "-fno-rtti",
                                   "-Werror=vla",  // no variable-length arrays
                                   "-fdiagnostics-color=never",
                                   "-DTL_EMULATOR",
                                   "-I" + tmp};
  for (auto& d : u.defs) args.push_back(d);
  args.insert(args.end(), {"-include", tmp + "/emu_cuda.h", "-x", "c++", "-o", tmp + "/out.so", tmp + "/unit.cu"});
  std::string why;
  int rc = runCompiler(args, tmp + "/log", &why);
  *log = readFile(tmp + "/log");
  if (rc != 0) {
    if (rc < 0) *log += "tl emulator: " + why + "\n";
    removeTree(tmp);
    return rc < 0 ? 11 : 6;  // NVRTC_ERROR_INTERNAL_ERROR, NVRTC_ERROR_COMPILATION
  }
  if (rename((tmp + "/out.so").c_str(), so->c_str()) != 0) {
    *log += "tl emulator: rename into " + *so + ": " + strerror(errno) + "\n";
    removeTree(tmp);
    return 11;
  }
  removeTree(tmp);
  return 0;
}

}  // namespace

// ===========================================================================
// Driver API

API const char* tl_emu_last_error(void) {
  return intern(lastDetail());
}

// tl_emu_set_memory_limit makes the device that many bytes large (0: the host's
// memory), so that tests can run out of it; live allocations stay.
API void tl_emu_set_memory_limit(size_t bytes) {
  LOCK();
  s.memLimit = bytes;
}

API CUresult cuInit(unsigned flags) {
  LOCK();
  if (flags != 0) return fail(CUDA_ERROR_INVALID_VALUE, "cuInit flags must be 0, got %u", flags);
  s.inited = true;
  return 0;
}

API CUresult cuDriverGetVersion(int* v) {
  if (!v) return CUDA_ERROR_INVALID_VALUE;
  *v = 12080;
  return 0;
}

API CUresult cuDeviceGetCount(int* n) {
  LOCK();
  NEED_INIT();
  if (!n) return CUDA_ERROR_INVALID_VALUE;
  *n = 1;
  return 0;
}

API CUresult cuDeviceGet(int* dev, int ordinal) {
  LOCK();
  NEED_INIT();
  if (!dev) return CUDA_ERROR_INVALID_VALUE;
  if (ordinal != 0) return fail(CUDA_ERROR_INVALID_DEVICE, "device %d: the emulator has one device, 0", ordinal);
  *dev = 0;
  return 0;
}

API CUresult cuDeviceGetName(char* name, int len, int dev) {
  LOCK();
  NEED_INIT();
  if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
  if (!name || len <= 0) return CUDA_ERROR_INVALID_VALUE;
  snprintf(name, (size_t)len, "%s", "tl CPU emulator");
  return 0;
}

size_t hostMemory() { return (size_t)sysconf(_SC_PHYS_PAGES) * (size_t)sysconf(_SC_PAGESIZE); }

API CUresult cuDeviceGetAttribute(int* v, int attr, int dev) {
  LOCK();
  NEED_INIT();
  if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
  if (!v) return CUDA_ERROR_INVALID_VALUE;
  switch (attr) {
    case 1: *v = 1024; break;                 // MAX_THREADS_PER_BLOCK
    case 2: case 3: *v = 1024; break;         // MAX_BLOCK_DIM_X/Y
    case 4: *v = 64; break;                   // MAX_BLOCK_DIM_Z
    case 5: *v = 2147483647; break;           // MAX_GRID_DIM_X
    case 6: case 7: *v = 65535; break;        // MAX_GRID_DIM_Y/Z
    case 8: *v = 48 * 1024; break;            // MAX_SHARED_MEMORY_PER_BLOCK
    case 9: *v = 65536; break;                // TOTAL_CONSTANT_MEMORY
    case 10: *v = 32; break;                  // WARP_SIZE
    case 12: *v = 65536; break;               // MAX_REGISTERS_PER_BLOCK
    case 13: *v = 1980000; break;             // CLOCK_RATE (kHz)
    case 16: *v = 132; break;                 // MULTIPROCESSOR_COUNT
    case 39: *v = 2048; break;                // MAX_THREADS_PER_MULTIPROCESSOR
    case 75: *v = 9; break;                   // COMPUTE_CAPABILITY_MAJOR
    case 76: *v = 0; break;                   // COMPUTE_CAPABILITY_MINOR
    case 81: *v = 228 * 1024; break;          // MAX_SHARED_MEMORY_PER_MULTIPROCESSOR
    case 97: *v = 227 * 1024; break;          // MAX_SHARED_MEMORY_PER_BLOCK_OPTIN
    default:
      if (attr <= 0 || attr > 150) return fail(CUDA_ERROR_INVALID_VALUE, "unknown device attribute %d", attr);
      *v = 0;
  }
  return 0;
}

API CUresult cuDeviceTotalMem_v2(size_t* bytes, int dev) {
  LOCK();
  NEED_INIT();
  if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
  if (!bytes) return CUDA_ERROR_INVALID_VALUE;
  *bytes = s.memLimit ? s.memLimit : hostMemory();
  return 0;
}

API CUresult cuDevicePrimaryCtxRetain(void** ctx, int dev) {
  LOCK();
  NEED_INIT();
  if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
  if (!ctx) return CUDA_ERROR_INVALID_VALUE;
  *ctx = &primaryCtx;
  return 0;
}

API CUresult cuDevicePrimaryCtxRelease_v2(int dev) {
  LOCK();
  NEED_INIT();
  return dev == 0 ? 0 : CUDA_ERROR_INVALID_DEVICE;
}

API CUresult cuCtxSetCurrent(void* ctx) {
  LOCK();
  NEED_INIT();
  if (ctx != nullptr && ctx != &primaryCtx) return fail(CUDA_ERROR_INVALID_CONTEXT, "unknown context %p", ctx);
  curCtx = ctx;
  return 0;
}

API CUresult cuCtxSynchronize(void) {
  LOCK();
  NEED_CTX();
  if (s.capturing > 0) return syncDuringCapture(s, "cuCtxSynchronize");
  return 0;
}

API CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t n) {
  LOCK();
  NEED_CTX();
  if (!p) return CUDA_ERROR_INVALID_VALUE;
  if (s.capturing > 0) return syncDuringCapture(s, "cuMemAlloc");
  if (n == 0) return fail(CUDA_ERROR_INVALID_VALUE, "cuMemAlloc of 0 bytes");
  size_t total = kGuard + n + kGuard;
  if (total < n) return fail(CUDA_ERROR_OUT_OF_MEMORY, "cuMemAlloc of %zu bytes", n);
  if (s.memLimit && (n > s.memLimit || s.memInUse > s.memLimit - n))
    return fail(CUDA_ERROR_OUT_OF_MEMORY, "cuMemAlloc of %zu bytes: %zu of the emulated device's %zu bytes in use", n,
                s.memInUse, s.memLimit);
  unsigned char* base = (unsigned char*)aligned_alloc(256, (total + 255) & ~(size_t)255);
  if (!base) return fail(CUDA_ERROR_OUT_OF_MEMORY, "cuMemAlloc of %zu bytes: out of host memory", n);
  for (size_t i = 0; i < kGuard; i++) base[i] = base[kGuard + n + i] = canary(i);
  memset(base + kGuard, 0xFF, n);  // NaN as float32: an output nobody wrote shows
  uintptr_t user = (uintptr_t)(base + kGuard);
  s.allocs[user] = Alloc{base, n};
  s.memInUse += n;
  *p = user;
  return 0;
}

API CUresult cuMemFree_v2(CUdeviceptr p) {
  LOCK();
  NEED_CTX();
  if (s.capturing > 0) return syncDuringCapture(s, "cuMemFree");
  auto it = s.allocs.find((uintptr_t)p);
  if (it == s.allocs.end())
    return fail(CUDA_ERROR_INVALID_VALUE, "cuMemFree of 0x%llx, which is not the start of a live allocation", p);
  std::string msg;
  bool ok = checkGuards(it->first, it->second, &msg, "some kernel or copy");
  free(it->second.base);
  s.memInUse -= it->second.size;
  s.allocs.erase(it);
  if (!ok) return fail(CUDA_ERROR_ILLEGAL_ADDRESS, "found at cuMemFree: %s", msg.c_str());
  return 0;
}

API CUresult cuMemGetInfo_v2(size_t* freeB, size_t* total) {
  LOCK();
  NEED_CTX();
  if (!freeB || !total) return CUDA_ERROR_INVALID_VALUE;
  *total = hostMemory();
  *freeB = (size_t)sysconf(_SC_AVPHYS_PAGES) * (size_t)sysconf(_SC_PAGESIZE);
  if (s.memLimit) *total = s.memLimit, *freeB = s.memInUse < s.memLimit ? s.memLimit - s.memInUse : 0;
  return 0;
}

namespace {
Op copyOp(CopyKind k, uintptr_t dst, uintptr_t src, size_t n) {
  Op op;
  op.kind = OP_COPY;
  op.ck = k;
  op.dst = dst;
  op.src = src;
  op.bytes = n;
  return op;
}

int syncCopy(CopyKind k, uintptr_t dst, uintptr_t src, size_t n, const char* what) {
  LOCK();
  NEED_CTX();
  if (s.capturing > 0) return syncDuringCapture(s, what);
  Op op = copyOp(k, dst, src, n);
  return runOp(s, op);
}

int asyncCopy(CopyKind k, uintptr_t dst, uintptr_t src, size_t n, void* stream, const char* what) {
  LOCK();
  NEED_CTX();
  Stream* q;
  if (int r = streamOf(s, stream, &q)) return r;
  // Check now too, so a bad copy fails where it is queued, also when captured.
  if (k != HTOD)
    if (int r = checkRange(s, src, n, what)) return r;
  if (k != DTOH)
    if (int r = checkRange(s, dst, n, what)) return r;
  return submit(s, q, copyOp(k, dst, src, n), what);
}
}  // namespace

API CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t n) {
  return syncCopy(HTOD, dst, (uintptr_t)src, n, "cuMemcpyHtoD");
}
API CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t n) {
  return syncCopy(DTOH, (uintptr_t)dst, src, n, "cuMemcpyDtoH");
}
API CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t n, void* stream) {
  return asyncCopy(HTOD, dst, (uintptr_t)src, n, stream, "cuMemcpyHtoDAsync");
}
API CUresult cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t n, void* stream) {
  return asyncCopy(DTOH, (uintptr_t)dst, src, n, stream, "cuMemcpyDtoHAsync");
}
API CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, void* stream) {
  return asyncCopy(DTOD, dst, src, n, stream, "cuMemcpyDtoDAsync");
}

API CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned v, size_t n, void* stream) {
  LOCK();
  NEED_CTX();
  Stream* q;
  if (int r = streamOf(s, stream, &q)) return r;
  if (dst % 4) return fail(CUDA_ERROR_INVALID_VALUE, "cuMemsetD32Async: 0x%llx is not 4-byte aligned", dst);
  if (int r = checkRange(s, dst, n * 4, "cuMemsetD32Async")) return r;
  Op op;
  op.kind = OP_MEMSET;
  op.dst = dst;
  op.bytes = n;  // words
  op.value = v;
  return submit(s, q, std::move(op), "cuMemsetD32Async");
}

API CUresult cuModuleLoadData(void** mod, const void* image) {
  LOCK();
  NEED_CTX();
  if (!mod || !image) return CUDA_ERROR_INVALID_VALUE;
  Unit u;
  if (!decodeUnit((const char*)image, &u))
    return fail(CUDA_ERROR_INVALID_IMAGE,
                "cuModuleLoadData: not an image from this emulator's NVRTC (PTX and cubins cannot run on the CPU "
                "emulator)");
  std::string path, log;
  if (buildUnit(u, &path, &log) != 0)
    return fail(CUDA_ERROR_INVALID_IMAGE, "cuModuleLoadData: rebuilding the module failed: %.2000s", log.c_str());
  void* dl = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!dl) return fail(CUDA_ERROR_INVALID_IMAGE, "cuModuleLoadData: dlopen %s: %s", path.c_str(), dlerror());
  auto init = (int (*)(const tl_emu_api*))dlsym(dl, "tl_emu_module_init");
  auto slot = (tl_emu_thread * *(*)(void)) dlsym(dl, "tl_emu_tls_slot");
  if (!init || !slot) {
    dlclose(dl);
    return fail(CUDA_ERROR_INVALID_IMAGE, "cuModuleLoadData: %s lacks the emulator's module entry points",
                path.c_str());
  }
  int abi = init(&kApi);
  if (abi != TL_EMU_ABI) {
    dlclose(dl);
    return fail(CUDA_ERROR_INVALID_IMAGE, "cuModuleLoadData: %s has ABI %d, the runtime %d", path.c_str(), abi,
                TL_EMU_ABI);
  }
  Module* m = new Module{dl, path, slot, {}};
  s.modules.insert(m);
  *mod = m;
  return 0;
}

API CUresult cuModuleUnload(void* mod) {
  LOCK();
  NEED_CTX();
  if (!s.modules.count(mod)) return fail(CUDA_ERROR_INVALID_HANDLE, "cuModuleUnload: unknown module %p", mod);
  Module* m = (Module*)mod;
  for (auto& kv : m->funcs) {
    kv.second->dead = true;  // kept: a captured graph may still name it
    s.funcs.erase(kv.second);
  }
  dlclose(m->dl);
  s.modules.erase(mod);
  delete m;
  return 0;
}

API CUresult cuModuleGetFunction(void** fn, void* mod, const char* name) {
  LOCK();
  NEED_CTX();
  if (!fn || !name) return CUDA_ERROR_INVALID_VALUE;
  if (!s.modules.count(mod)) return fail(CUDA_ERROR_INVALID_HANDLE, "cuModuleGetFunction: unknown module %p", mod);
  Module* m = (Module*)mod;
  auto it = m->funcs.find(name);
  if (it != m->funcs.end()) {
    *fn = it->second;
    return 0;
  }
  std::string ln = std::string("tl_emu_launcher_") + name, sn = std::string("tl_emu_sizes_") + name;
  auto launch = (void (*)(void**))dlsym(m->dl, ln.c_str());
  auto sizes = (int (*)(unsigned*, int))dlsym(m->dl, sn.c_str());
  if (!launch || !sizes)
    return fail(CUDA_ERROR_NOT_FOUND, "cuModuleGetFunction: no kernel %s in the module (is it extern \"C\" __global__?)",
                name);
  Function* f = new Function;
  f->mod = m;
  f->name = name;
  f->launch = launch;
  unsigned buf[256];
  int np = sizes(buf, 256);
  if (np > 256) return fail(CUDA_ERROR_NOT_SUPPORTED, "kernel %s has %d parameters (at most 256)", name, np);
  f->sizes.assign(buf, buf + np);
  m->funcs[name] = f;
  s.funcs.insert(f);
  *fn = f;
  return 0;
}

API CUresult cuFuncSetAttribute(void* fn, int attr, int value) {
  LOCK();
  NEED_CTX();
  if (!s.funcs.count((Function*)fn)) return fail(CUDA_ERROR_INVALID_HANDLE, "cuFuncSetAttribute: unknown function");
  Function* f = (Function*)fn;
  if (attr == 8) {  // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
    if (value < 0 || value > 227 * 1024)
      return fail(CUDA_ERROR_INVALID_VALUE, "%s: dynamic shared memory limit %d exceeds 227 KiB", f->name.c_str(),
                  value);
    f->maxDynShared = value > 48 * 1024 ? value : 48 * 1024;
  }
  return 0;
}

API CUresult cuLaunchKernel(void* fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                            unsigned shared, void* stream, void** params, void** extra) {
  LOCK();
  NEED_CTX();
  if (!s.funcs.count((Function*)fn)) return fail(CUDA_ERROR_INVALID_HANDLE, "cuLaunchKernel: unknown function %p", fn);
  Function* f = (Function*)fn;
  if (extra != nullptr)
    return fail(CUDA_ERROR_NOT_SUPPORTED, "cuLaunchKernel %s: the extra argument is not supported by the emulator",
                f->name.c_str());
  Stream* q;
  if (int r = streamOf(s, stream, &q)) return r;
  Op op;
  op.kind = OP_LAUNCH;
  op.f = f;
  op.g[0] = gx, op.g[1] = gy, op.g[2] = gz;
  op.b[0] = bx, op.b[1] = by, op.b[2] = bz;
  op.shared = shared;
  if (int r = checkLaunchShape(f, op.g, op.b, shared)) return r;
  if (!f->sizes.empty() && !params)
    return fail(CUDA_ERROR_INVALID_VALUE, "cuLaunchKernel %s: %zu parameters but kernelParams is NULL",
                f->name.c_str(), f->sizes.size());
  // Copy the parameter values now: the caller may change them after queueing.
  size_t off = 0;
  for (size_t i = 0; i < f->sizes.size(); i++) {
    off = (off + 7) & ~(size_t)7;
    op.offs.push_back((unsigned)off);
    off += f->sizes[i];
  }
  op.args.resize(off + 8);
  for (size_t i = 0; i < f->sizes.size(); i++) {
    if (!params[i])
      return fail(CUDA_ERROR_INVALID_VALUE, "cuLaunchKernel %s: parameter %zu is NULL", f->name.c_str(), i);
    memcpy(op.args.data() + op.offs[i], params[i], f->sizes[i]);
  }
  return submit(s, q, std::move(op), ("cuLaunchKernel " + f->name).c_str());
}

API CUresult cuStreamCreate(void** stream, unsigned flags) {
  LOCK();
  NEED_CTX();
  (void)flags;
  if (!stream) return CUDA_ERROR_INVALID_VALUE;
  Stream* q = new Stream;
  s.streams.insert(q);
  *stream = q;
  return 0;
}

API CUresult cuStreamDestroy_v2(void* stream) {
  LOCK();
  NEED_CTX();
  if (!s.streams.count(stream)) return fail(CUDA_ERROR_INVALID_HANDLE, "cuStreamDestroy: unknown stream %p", stream);
  Stream* q = (Stream*)stream;
  if (q->capturing) s.capturing--;
  s.streams.erase(stream);
  delete q;
  return 0;
}

API CUresult cuStreamSynchronize(void* stream) {
  LOCK();
  NEED_CTX();
  Stream* q;
  if (int r = streamOf(s, stream, &q)) return r;
  if ((q && q->capturing) || (!q && s.capturing > 0)) return syncDuringCapture(s, "cuStreamSynchronize");
  return 0;
}

API CUresult cuStreamBeginCapture_v2(void* stream, int mode) {
  LOCK();
  NEED_CTX();
  if (!stream)
    return fail(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "cuStreamBeginCapture: the NULL stream cannot be captured");
  Stream* q;
  if (int r = streamOf(s, stream, &q)) return r;
  if (mode < 0 || mode > 2) return fail(CUDA_ERROR_INVALID_VALUE, "cuStreamBeginCapture: mode %d", mode);
  if (q->capturing) return fail(CUDA_ERROR_ILLEGAL_STATE, "cuStreamBeginCapture: the stream is already capturing");
  q->capturing = true;
  q->invalid = false;
  q->ops.clear();
  s.capturing++;
  return 0;
}

API CUresult cuStreamEndCapture(void* stream, void** graph) {
  LOCK();
  NEED_CTX();
  if (!graph) return CUDA_ERROR_INVALID_VALUE;
  *graph = nullptr;
  Stream* q;
  if (int r = streamOf(s, stream, &q)) return r;
  if (!q || !q->capturing) return fail(CUDA_ERROR_ILLEGAL_STATE, "cuStreamEndCapture: the stream is not capturing");
  q->capturing = false;
  s.capturing--;
  std::vector<Op> ops;
  ops.swap(q->ops);
  if (q->invalid) {
    q->invalid = false;
    return fail(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED,
                "cuStreamEndCapture: the capture was invalidated by a synchronous call during it");
  }
  Graph* g = new Graph{std::move(ops)};
  s.graphs.insert(g);
  *graph = g;
  return 0;
}

API CUresult cuGraphInstantiateWithFlags(void** exec, void* graph, unsigned long long flags) {
  LOCK();
  NEED_CTX();
  (void)flags;
  if (!exec) return CUDA_ERROR_INVALID_VALUE;
  if (!s.graphs.count(graph)) return fail(CUDA_ERROR_INVALID_HANDLE, "cuGraphInstantiate: unknown graph %p", graph);
  Graph* e = new Graph{((Graph*)graph)->ops};
  s.execs.insert(e);
  *exec = e;
  return 0;
}

API CUresult cuGraphLaunch(void* exec, void* stream) {
  LOCK();
  NEED_CTX();
  if (!s.execs.count(exec)) return fail(CUDA_ERROR_INVALID_HANDLE, "cuGraphLaunch: unknown graph exec %p", exec);
  Stream* q;
  if (int r = streamOf(s, stream, &q)) return r;
  if ((q && q->capturing) || (!q && s.capturing > 0))
    return syncDuringCapture(s, "cuGraphLaunch (the emulator cannot capture a graph launch)");
  Graph* e = (Graph*)exec;
  for (size_t i = 0; i < e->ops.size(); i++) {
    if (int r = runOp(s, e->ops[i])) {
      std::string d = lastDetail();
      return fail(r, "graph replay, node %zu of %zu: %s", i, e->ops.size(), d.c_str());
    }
  }
  return 0;
}

API CUresult cuGraphDestroy(void* graph) {
  LOCK();
  NEED_CTX();
  if (!s.graphs.erase(graph)) return fail(CUDA_ERROR_INVALID_HANDLE, "cuGraphDestroy: unknown graph %p", graph);
  delete (Graph*)graph;
  return 0;
}

API CUresult cuGraphExecDestroy(void* exec) {
  LOCK();
  NEED_CTX();
  if (!s.execs.erase(exec)) return fail(CUDA_ERROR_INVALID_HANDLE, "cuGraphExecDestroy: unknown exec %p", exec);
  delete (Graph*)exec;
  return 0;
}

API CUresult cuEventCreate(void** ev, unsigned flags) {
  LOCK();
  NEED_CTX();
  (void)flags;
  if (!ev) return CUDA_ERROR_INVALID_VALUE;
  Event* e = new Event;
  s.events.insert(e);
  *ev = e;
  return 0;
}

API CUresult cuEventRecord(void* ev, void* stream) {
  LOCK();
  NEED_CTX();
  if (!s.events.count(ev)) return fail(CUDA_ERROR_INVALID_HANDLE, "cuEventRecord: unknown event %p", ev);
  Stream* q;
  if (int r = streamOf(s, stream, &q)) return r;
  Op op;
  op.kind = OP_EVENT;
  op.ev = (Event*)ev;
  return submit(s, q, std::move(op), "cuEventRecord");
}

API CUresult cuEventSynchronize(void* ev) {
  LOCK();
  NEED_CTX();
  if (!s.events.count(ev)) return fail(CUDA_ERROR_INVALID_HANDLE, "cuEventSynchronize: unknown event %p", ev);
  return 0;
}

API CUresult cuEventElapsedTime(float* ms, void* start, void* end) {
  LOCK();
  NEED_CTX();
  if (!ms) return CUDA_ERROR_INVALID_VALUE;
  if (!s.events.count(start) || !s.events.count(end))
    return fail(CUDA_ERROR_INVALID_HANDLE, "cuEventElapsedTime: unknown event");
  Event *a = (Event*)start, *b = (Event*)end;
  if (!a->recorded || !b->recorded)
    return fail(CUDA_ERROR_INVALID_HANDLE, "cuEventElapsedTime: an event was never recorded");
  *ms = (float)(b->ms - a->ms);
  return 0;
}

API CUresult cuEventElapsedTime_v2(float* ms, void* start, void* end) { return cuEventElapsedTime(ms, start, end); }

API CUresult cuEventDestroy_v2(void* ev) {
  LOCK();
  NEED_CTX();
  if (!s.events.erase(ev)) return fail(CUDA_ERROR_INVALID_HANDLE, "cuEventDestroy: unknown event %p", ev);
  delete (Event*)ev;
  return 0;
}

namespace {
struct ErrName {
  int code;
  const char* name;
  const char* text;
};
const ErrName kErrNames[] = {
    {0, "CUDA_SUCCESS", "no error"},
    {1, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {2, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {3, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
    {4, "CUDA_ERROR_DEINITIALIZED", "driver shutting down"},
    {100, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
    {101, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
    {200, "CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid"},
    {201, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
    {209, "CUDA_ERROR_NO_BINARY_FOR_GPU", "no kernel image is available for execution on the device"},
    {218, "CUDA_ERROR_INVALID_PTX", "a PTX JIT compilation failed"},
    {300, "CUDA_ERROR_INVALID_SOURCE", "device kernel image is invalid"},
    {400, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
    {401, "CUDA_ERROR_ILLEGAL_STATE", "the operation cannot be performed in the present state"},
    {500, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
    {600, "CUDA_ERROR_NOT_READY", "device not ready"},
    {700, "CUDA_ERROR_ILLEGAL_ADDRESS", "an illegal memory access was encountered"},
    {701, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES", "too many resources requested for launch"},
    {702, "CUDA_ERROR_LAUNCH_TIMEOUT", "the launch timed out and was terminated"},
    {719, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"},
    {801, "CUDA_ERROR_NOT_SUPPORTED", "operation not supported"},
    {900, "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED", "operation not permitted when stream is capturing"},
    {901, "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED", "operation failed due to a previous error during capture"},
    {999, "CUDA_ERROR_UNKNOWN", "unknown error"},
};
const ErrName* errName(int code) {
  for (const ErrName& e : kErrNames)
    if (e.code == code) return &e;
  return nullptr;
}
}  // namespace

API CUresult cuGetErrorName(CUresult code, const char** str) {
  if (!str) return CUDA_ERROR_INVALID_VALUE;
  const ErrName* e = errName(code);
  *str = e ? e->name : nullptr;
  return e ? 0 : CUDA_ERROR_INVALID_VALUE;
}

// cuGetErrorString adds the emulator's detail of the last failure with that code.
API CUresult cuGetErrorString(CUresult code, const char** str) {
  if (!str) return CUDA_ERROR_INVALID_VALUE;
  const ErrName* e = errName(code);
  if (!e) {
    *str = nullptr;
    return CUDA_ERROR_INVALID_VALUE;
  }
  std::string d;
  {
    ErrorState& es = errs();
    std::lock_guard<std::mutex> lk(es.mu);
    if (es.code == code) d = es.detail;
  }
  *str = d.empty() ? e->text : intern(std::string(e->text) + " (tl emulator: " + d + ")");
  return 0;
}

// ===========================================================================
// cuBLAS

enum { CUBLAS_OK = 0, CUBLAS_NOT_INITIALIZED = 1, CUBLAS_INVALID_VALUE = 7, CUBLAS_EXECUTION_FAILED = 13 };

API int cublasCreate_v2(void** h) {
  LOCK();
  if (!h) return CUBLAS_INVALID_VALUE;
  if (!s.inited) {
    fail(CUBLAS_NOT_INITIALIZED, "cublasCreate before cuInit");
    return CUBLAS_NOT_INITIALIZED;
  }
  Cublas* c = new Cublas;
  s.cublas.insert(c);
  *h = c;
  return 0;
}

API int cublasDestroy_v2(void* h) {
  LOCK();
  if (!s.cublas.erase(h)) return CUBLAS_NOT_INITIALIZED;
  delete (Cublas*)h;
  return 0;
}

API int cublasSetStream_v2(void* h, void* stream) {
  LOCK();
  if (!s.cublas.count(h)) return CUBLAS_NOT_INITIALIZED;
  Stream* q;
  if (streamOf(s, stream, &q)) return CUBLAS_INVALID_VALUE;
  ((Cublas*)h)->stream = q;
  return 0;
}

API int cublasSetMathMode(void* h, int mode) {
  LOCK();
  if (!s.cublas.count(h)) return CUBLAS_NOT_INITIALIZED;
  ((Cublas*)h)->mathMode = mode;  // TF32 (3) rounds the inputs; the sums are in double
  return 0;
}

API int cublasSetWorkspace_v2(void* h, void* ws, size_t bytes) {
  LOCK();
  (void)ws;
  (void)bytes;
  return s.cublas.count(h) ? 0 : CUBLAS_NOT_INITIALIZED;
}

API int cublasGetVersion_v2(void* h, int* v) {
  (void)h;
  if (!v) return CUBLAS_INVALID_VALUE;
  *v = 120800;
  return 0;
}

namespace {
int gemmSubmit(GemmOp g, void* h, const float* alpha, const float* beta, const char* what) {
  LOCK();
  if (!s.cublas.count(h)) return CUBLAS_NOT_INITIALIZED;
  if (!alpha || !beta) {
    fail(CUBLAS_INVALID_VALUE, "%s: alpha or beta is NULL", what);
    return CUBLAS_INVALID_VALUE;
  }
  g.alpha = *alpha;  // host pointer mode: the values are read now, also when captured
  g.beta = *beta;
  g.tf32 = ((Cublas*)h)->mathMode == 3;  // CUBLAS_TF32_TENSOR_OP_MATH
  if (g.ta == 2) g.ta = 1;  // CUBLAS_OP_C is CUBLAS_OP_T for real matrices
  if (g.tb == 2) g.tb = 1;
  int rowsA = g.ta == 0 ? g.m : g.k, rowsB = g.tb == 0 ? g.k : g.n;
  if (g.ta < 0 || g.ta > 1 || g.tb < 0 || g.tb > 1 || g.m < 0 || g.n < 0 || g.k < 0 || g.batch < 0 ||
      g.lda < (rowsA > 1 ? rowsA : 1) || g.ldb < (rowsB > 1 ? rowsB : 1) || g.ldc < (g.m > 1 ? g.m : 1)) {
    fail(CUBLAS_INVALID_VALUE, "%s: invalid arguments transa=%d transb=%d m=%d n=%d k=%d lda=%d ldb=%d ldc=%d batch=%d",
         what, g.ta, g.tb, g.m, g.n, g.k, g.lda, g.ldb, g.ldc, g.batch);
    return CUBLAS_INVALID_VALUE;
  }
  if (g.m == 0 || g.n == 0 || g.batch == 0) return 0;
  Op op;
  op.kind = OP_GEMM;
  op.gemm = g;
  Stream* q = ((Cublas*)h)->stream;
  int r = submit(s, q, std::move(op), what);
  if (r == 0) return 0;
  return CUBLAS_EXECUTION_FAILED;
}
}  // namespace

API int cublasSgemm_v2(void* h, int ta, int tb, int m, int n, int k, const float* alpha, const float* A, int lda,
                       const float* B, int ldb, const float* beta, float* C, int ldc) {
  GemmOp g{ta, tb, m, n, k, 0, 0, A, B, C, lda, ldb, ldc, 0, 0, 0, 1};
  return gemmSubmit(g, h, alpha, beta, "cublasSgemm");
}

API int cublasSgemmStridedBatched(void* h, int ta, int tb, int m, int n, int k, const float* alpha, const float* A,
                                  int lda, long long sA, const float* B, int ldb, long long sB, const float* beta,
                                  float* C, int ldc, long long sC, int batch) {
  GemmOp g{ta, tb, m, n, k, 0, 0, A, B, C, lda, ldb, ldc, sA, sB, sC, batch};
  return gemmSubmit(g, h, alpha, beta, "cublasSgemmStridedBatched");
}

// cublasSgemmBatched takes device arrays of matrix pointers (not in the agreed
// subset; here because it costs nothing).
API int cublasSgemmBatched(void* h, int ta, int tb, int m, int n, int k, const float* alpha,
                           const float* const* Aarray, int lda, const float* const* Barray, int ldb, const float* beta,
                           float* const* Carray, int ldc, int batch) {
  GemmOp g{ta, tb, m, n, k, 0, 0, nullptr, nullptr, nullptr, lda, ldb, ldc, 0, 0, 0, batch};
  g.Ap = Aarray;
  g.Bp = Barray;
  g.Cp = Carray;
  return gemmSubmit(g, h, alpha, beta, "cublasSgemmBatched");
}

// ===========================================================================
// NVRTC

enum {
  NVRTC_SUCCESS = 0,
  NVRTC_ERROR_OUT_OF_MEMORY = 1,
  NVRTC_ERROR_PROGRAM_CREATION_FAILURE = 2,
  NVRTC_ERROR_INVALID_INPUT = 3,
  NVRTC_ERROR_INVALID_PROGRAM = 4,
  NVRTC_ERROR_INVALID_OPTION = 5,
  NVRTC_ERROR_COMPILATION = 6,
  NVRTC_ERROR_INTERNAL_ERROR = 11,
};

API int nvrtcVersion(int* major, int* minor) {
  if (!major || !minor) return NVRTC_ERROR_INVALID_INPUT;
  *major = 12;
  *minor = 8;
  return 0;
}

API const char* nvrtcGetErrorString(int r) {
  switch (r) {
    case 0: return "NVRTC_SUCCESS";
    case 1: return "NVRTC_ERROR_OUT_OF_MEMORY";
    case 2: return "NVRTC_ERROR_PROGRAM_CREATION_FAILURE";
    case 3: return "NVRTC_ERROR_INVALID_INPUT";
    case 4: return "NVRTC_ERROR_INVALID_PROGRAM";
    case 5: return "NVRTC_ERROR_INVALID_OPTION";
    case 6: return "NVRTC_ERROR_COMPILATION";
    case 7: return "NVRTC_ERROR_BUILTIN_OPERATION_FAILURE";
    case 11: return "NVRTC_ERROR_INTERNAL_ERROR";
  }
  return "NVRTC_ERROR unknown";
}

API int nvrtcCreateProgram(void** prog, const char* src, const char* name, int nh, const char* const* headers,
                           const char* const* includeNames) {
  if (!prog || !src || nh < 0) return NVRTC_ERROR_INVALID_INPUT;
  Program* p = new Program;
  p->src = src;
  p->name = name && *name ? name : "default_program";
  for (int i = 0; i < nh; i++) {
    if (!headers || !includeNames || !headers[i] || !includeNames[i]) {
      delete p;
      return NVRTC_ERROR_INVALID_INPUT;
    }
    p->headers.push_back({includeNames[i], headers[i]});
  }
  *prog = p;
  return 0;
}

API int nvrtcDestroyProgram(void** prog) {
  if (!prog || !*prog) return NVRTC_ERROR_INVALID_PROGRAM;
  delete (Program*)*prog;
  *prog = nullptr;
  return 0;
}

namespace {
// systemIncludes returns an error line for each #include <...> of a header not
// given to nvrtcCreateProgram: NVRTC has no system headers, and g++ would
// quietly find the host's. Lines are counted as #line directives say.
std::string systemIncludes(const Program& p) {
  std::string s = stripComments(p.src), log, file = p.name;
  long line = 1;
  for (size_t i = 0; i < s.size(); line++) {
    size_t e = s.find('\n', i);
    if (e == std::string::npos) e = s.size();
    size_t start = i;  // stripComments keeps offsets: the same line of p.src starts here too
    std::string l = s.substr(start, e - start);
    i = e + 1;
    size_t k = l.find_first_not_of(" \t");
    if (k == std::string::npos || l[k] != '#') continue;
    k = l.find_first_not_of(" \t", k + 1);
    if (k == std::string::npos) continue;
    if (l.compare(k, 4, "line") == 0) {
      long n = atol(l.c_str() + k + 4);
      std::string orig = p.src.substr(start, e - start);  // the file name, blanked in s
      size_t q1 = orig.find('"'), q2 = q1 == std::string::npos ? q1 : orig.find('"', q1 + 1);
      if (q2 != std::string::npos) file = orig.substr(q1 + 1, q2 - q1 - 1);
      if (n > 0) line = n - 1;
      continue;
    }
    if (l.compare(k, 7, "include") != 0) continue;
    k = l.find_first_not_of(" \t", k + 7);
    if (k == std::string::npos || l[k] != '<') continue;
    size_t close = l.find('>', k);
    std::string name = l.substr(k + 1, close == std::string::npos ? std::string::npos : close - k - 1);
    bool given = false;
    for (auto& h : p.headers) given = given || h.first == name;
    if (!given)
      log += file + ":" + std::to_string(line) + ": error: #include <" + name +
             ">: NVRTC has no system headers (the emulator refuses them as NVRTC does)\n";
  }
  return log;
}
}  // namespace

API int nvrtcCompileProgram(void* prog, int nopt, const char* const* opts) {
  if (!prog) return NVRTC_ERROR_INVALID_PROGRAM;
  Program* p = (Program*)prog;
  p->log.clear();
  p->image.clear();
  std::vector<std::string> defs;  // -D, -U and -I pass through; the rest (arch, -std...) do not apply
  for (int i = 0; i < nopt; i++) {
    if (!opts || !opts[i]) return NVRTC_ERROR_INVALID_OPTION;
    std::string o = opts[i];
    if (o.rfind("-D", 0) == 0 || o.rfind("-U", 0) == 0 || o.rfind("-I", 0) == 0)
      defs.push_back(o);
    else if (o.rfind("--define-macro=", 0) == 0)
      defs.push_back("-D" + o.substr(15));
    else if (o.rfind("--undefine-macro=", 0) == 0)
      defs.push_back("-U" + o.substr(17));
    else if (o.rfind("--include-path=", 0) == 0)
      defs.push_back("-I" + o.substr(15));
  }
  p->log = systemIncludes(*p);
  if (!p->log.empty()) return NVRTC_ERROR_COMPILATION;
  Unit u;
  u.defs = defs;
  u.headers = p->headers;
  u.text = "#line 1 \"" + p->name + "\"\n" + p->src + "\n#line 1 \"<tl emulator launchers>\"\n" + launchers(p->src);
  std::string so;
  int rc = buildUnit(u, &so, &p->log);
  if (rc == 0) p->image = encodeUnit(u);
  return rc;
}

API int nvrtcGetProgramLogSize(void* prog, size_t* n) {
  if (!prog || !n) return NVRTC_ERROR_INVALID_INPUT;
  *n = ((Program*)prog)->log.size() + 1;
  return 0;
}

API int nvrtcGetProgramLog(void* prog, char* out) {
  if (!prog || !out) return NVRTC_ERROR_INVALID_INPUT;
  const std::string& l = ((Program*)prog)->log;
  memcpy(out, l.c_str(), l.size() + 1);
  return 0;
}

namespace {
int imageSize(void* prog, size_t* n) {
  if (!prog || !n) return NVRTC_ERROR_INVALID_INPUT;
  Program* p = (Program*)prog;
  if (p->image.empty()) return NVRTC_ERROR_INVALID_PROGRAM;
  *n = p->image.size() + 1;
  return 0;
}
int image(void* prog, char* out) {
  if (!prog || !out) return NVRTC_ERROR_INVALID_INPUT;
  Program* p = (Program*)prog;
  if (p->image.empty()) return NVRTC_ERROR_INVALID_PROGRAM;
  memcpy(out, p->image.c_str(), p->image.size() + 1);
  return 0;
}
}  // namespace

API int nvrtcGetPTXSize(void* prog, size_t* n) { return imageSize(prog, n); }
API int nvrtcGetPTX(void* prog, char* out) { return image(prog, out); }
API int nvrtcGetCUBINSize(void* prog, size_t* n) { return imageSize(prog, n); }
API int nvrtcGetCUBIN(void* prog, char* out) { return image(prog, out); }
