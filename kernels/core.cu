// Kernels of the plan itself.

// tl_step: the first kernel of every run of a device plan: advance the step
// counter random kernels read, and clear the error slots.
extern "C" __global__ void tl_step(unsigned long long* counter, int* slots, int nslots) {
  if (blockIdx.x == 0 && threadIdx.x == 0) *counter += 1;
  TL_FOR(i, nslots) slots[i] = 0;
}
