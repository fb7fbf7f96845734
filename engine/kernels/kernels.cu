// kernels.cu: the one translation unit built into the fatbin; each op
// family lives in its own file.
#include "gemv.cu"
#include "attention.cu"
#include "moe.cu"
#include "prefill.cu"
