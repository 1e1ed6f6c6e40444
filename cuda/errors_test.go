package cuda

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrorFormat(t *testing.T) {
	e := &Error{Call: "cuLaunchKernel", Code: 1, Name: "CUDA_ERROR_INVALID_VALUE", Message: "invalid argument"}
	if got, want := e.Error(), "cuda: cuLaunchKernel: CUDA_ERROR_INVALID_VALUE (1): invalid argument"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	wrapped := fmt.Errorf("launching tl_step for node 3: %w", e)
	if codeOf(wrapped) != 1 {
		t.Errorf("codeOf through a wrap: %d, want 1", codeOf(wrapped))
	}
	var got *Error
	if !errors.As(wrapped, &got) || got.Call != "cuLaunchKernel" {
		t.Error("errors.As does not find the *Error")
	}
	if s := cublasError("cublasSgemm_v2", 7).Error(); s != "cuda: cublasSgemm_v2: CUBLAS_STATUS_INVALID_VALUE (7)" {
		t.Errorf("cuBLAS error reads %q", s)
	}
}
