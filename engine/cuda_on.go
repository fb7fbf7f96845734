//go:build cuda

package engine

import (
	"time"

	"github.com/moepolicy/moec/engine/cuda"
	"github.com/moepolicy/moec/model"
)

// cudaBackend is engine/cuda's graph-captured decode step.
type cudaBackend struct{ e *cuda.Engine }

func openCUDA(cfg *model.Config, ck *model.Checkpoint, o Options) (backend, error) {
	e, err := cuda.Open(cfg, ck, cuda.Options{Device: o.GPU, MaxContext: o.MaxContext, KVFloat32: o.KVFloat32})
	if err != nil {
		return nil, err
	}
	return &cudaBackend{e}, nil
}

func (b *cudaBackend) start(n int) error              { return b.e.Start(n) }
func (b *cudaBackend) step(id int) ([]float32, error) { return b.e.Step(id) }
func (b *cudaBackend) close()                         { b.e.Close() }

func (b *cudaBackend) memory() int64 {
	w, kv, work := b.e.Memory()
	return w + kv + work
}

func (b *cudaBackend) greedy(prompt []int, n int) ([]int, time.Duration, time.Duration, error) {
	r, err := b.e.Generate(prompt, n)
	if err != nil {
		return nil, 0, 0, err
	}
	return r.Tokens, r.Prefill, r.Decode, nil
}
