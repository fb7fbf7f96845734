// Package cuda is moec's engine on an NVIDIA GPU: every weight of a
// Mixture-of-Experts checkpoint resident in bf16, and a decode step
// captured as one CUDA graph that runs the embedding, every layer (norms,
// q/k/v, rotary embeddings and the key/value cache, split attention, the
// router's softmax and top-k, the selected experts through a device table
// of pointers), the final norm, lm_head and the greedy choice of the next
// token, with no round trip through the host.
//
// It calls the CUDA driver through cgo of its own (one parameter block per
// kernel launch; gorgonia.org/cu's Launch widens every argument to 8
// bytes) and loads its kernels from package engine/kernels' embedded
// fatbin. The code needs the build tag cuda (scripts/gpu-build.sh, and
// docs/GPU.md for running it); this file keeps the package visible in
// builds without it. CUDA contexts are per OS thread: Open locks the
// calling goroutine to its thread until Close.
package cuda
