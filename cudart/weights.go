package cudart

import (
	"runtime"
	"sync"

	// Imported under another name: the package's tests have a type
	// model (their transcription of the plan contract).
	ckpt "github.com/moepolicy/moec/model"
	"github.com/moepolicy/moec/rt"
)

// ExpertShape returns the shape of a checkpoint's experts for routing
// with top-k experts: rt.Key{Layer: l} is the model's layer x.Layers[l].
func ExpertShape(x *ckpt.Experts, topK int) rt.Shape {
	return rt.Shape{Layers: len(x.Layers), Experts: x.PerLayer, TopK: topK, ExpertBytes: x.ExpertBytes}
}

// Pack copies every expert of x, gate, up and down contiguously, into
// the slice host returns for its key (a store's Host), using every core,
// and returns the first error.
func Pack(x *ckpt.Experts, host func(rt.Key) []byte) error {
	n := len(x.Layers) * x.PerLayer
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		next int
		errs []error
	)
	work := func() {
		defer wg.Done()
		for {
			mu.Lock()
			i := next
			next++
			stop := len(errs) > 0
			mu.Unlock()
			if i >= n || stop {
				return
			}
			k := rt.Key{Layer: int32(i / x.PerLayer), Expert: int32(i % x.PerLayer)}
			if err := x.Pack(int(k.Layer), int(k.Expert), host(k)); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}
	}
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Add(1)
		go work()
	}
	wg.Wait()
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}
