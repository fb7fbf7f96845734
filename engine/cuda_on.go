//go:build cuda

package engine

import (
	"fmt"
	"slices"
	"time"

	"gorgonia.org/cu"

	"github.com/moepolicy/moec/cudart"
	"github.com/moepolicy/moec/engine/cpu/expert"
	"github.com/moepolicy/moec/engine/cuda"
	"github.com/moepolicy/moec/model"
	"github.com/moepolicy/moec/rt"
)

// cudaBackend is engine/cuda's decode step: one captured graph, or, under
// a policy or a forced routing, graph segments with the host between
// them.
type cudaBackend struct {
	e     *cuda.Engine
	store int64           // the bytes of the store's slots
	stall []time.Duration // by decoder layer, since Open; nil without the host loop
	host  time.Duration
	ws    *expert.Workspace // gpuPlacer's, nil without a policy
}

// openCUDA loads the model onto the GPU. Under o.Policy the routed
// experts stay in a cudart.Store's pinned arena and gpuPlacer places them
// each layer; with route, each MoE layer's choice is forced from it.
func openCUDA(cfg *model.Config, ck *model.Checkpoint, o Options, route *routeTrace) (backend, *placer, error) {
	co := cuda.Options{Device: o.GPU, MaxContext: o.MaxContext, KVFloat32: o.KVFloat32}
	if route != nil {
		co.Route = func(layer int, experts []int32, weights []float32) error {
			forceRoute(route, layer, experts, weights)
			return nil
		}
	}
	var gp *gpuPlacer
	if o.Policy != nil {
		pl, err := newPlacer(cfg, ck, o)
		if err != nil {
			return nil, nil, err
		}
		if pl.x.DType != "BF16" {
			return nil, nil, fmt.Errorf("engine: %s: the experts are %s, but the GPU path runs a policy's experts from the bytes the store copies, which must be bf16", ck.Dir(), pl.x.DType)
		}
		gp = &gpuPlacer{placer: pl, hidden: cfg.Hidden, inter: int(pl.x.Gate[0]), ws: expert.NewWorkspace(0)}
		co.Experts = gp
	}
	e, err := cuda.Open(cfg, ck, co)
	if err != nil {
		if gp != nil {
			gp.ws.Close()
		}
		return nil, nil, err
	}
	b := &cudaBackend{e: e}
	if co.Route != nil || co.Experts != nil { // the host loop runs, and measures its stalls
		b.stall = make([]time.Duration, cfg.Layers)
	}
	if gp == nil {
		return b, nil, nil
	}
	b.ws = gp.ws
	// The store after the engine, on the engine's thread and context.
	store, err := cudart.Open(gp.so)
	if err != nil {
		b.close()
		return nil, nil, err
	}
	if err := cudart.Pack(gp.x, store.Host); err != nil {
		store.Close()
		b.close()
		return nil, nil, err
	}
	gp.store, gp.s, gp.stream = store, store, e.Stream()
	b.store = int64(gp.so.Slots()) * gp.so.Shape.ExpertBytes
	if c, ok := o.Policy.(rt.Calibrated); ok {
		if gp.hw, err = gp.measure(o.Hardware); err != nil {
			store.Close()
			b.close()
			return nil, nil, err
		}
		c.Calibrate(gp.hw)
	}
	return b, gp.placer, nil
}

// measure returns h with the figures it leaves at 0 measured: the pinned
// copy bandwidth (four copies of the checkpoint's first expert into a
// free slot) and the CPU time of one expert for one token, the median of
// five runs on the host's cores after one that warms the workspace, each
// on another expert: a missed expert comes from memory, where running one
// expert again found Qwen1.5-MoE's 17 MB in the cache (0.19-0.34 ms on the
// H200, against 0.29 ms over experts spanning 1 GiB).
func (gp *gpuPlacer) measure(h rt.Hardware) (rt.Hardware, error) {
	if h.PCIeGBps == 0 {
		gbps, err := gp.s.MeasureCopy(4)
		if err != nil {
			return h, fmt.Errorf("engine: measuring the pinned copies: %w", err)
		}
		h.PCIeGBps = gbps
	}
	if h.CPUExpertMS == 0 {
		x, out := make([]float32, gp.hidden), make([]float32, gp.hidden)
		for i := range x {
			x[i] = float32(i%7) / 7
		}
		var times [6]time.Duration
		layers, per := len(gp.x.Layers), gp.x.PerLayer
		for i := range times {
			b := gp.s.Host(rt.Key{Layer: int32(i % layers), Expert: int32(i * 7 % per)})
			start := time.Now()
			if err := expert.Run(out, x, b, gp.x.DType, gp.hidden, gp.inter, gp.ws); err != nil {
				return h, fmt.Errorf("engine: measuring a CPU expert: %w", err)
			}
			times[i] = time.Since(start)
		}
		runs := times[1:]
		slices.Sort(runs)
		h.CPUExpertMS = float64(runs[len(runs)/2]) / float64(time.Millisecond)
	}
	return h, nil
}

func (b *cudaBackend) start(n int) error { return b.e.Start(n) }

func (b *cudaBackend) step(id int) ([]float32, error) {
	logits, err := b.e.Step(id)
	if err == nil {
		err = b.collect() // Step synchronised: the events are done
	}
	return logits, err
}

func (b *cudaBackend) close() {
	if b.ws != nil {
		b.ws.Close()
	}
	b.e.Close()
}

func (b *cudaBackend) memory() int64 {
	w, kv, work := b.e.Memory()
	return w + kv + work + b.store
}

func (b *cudaBackend) greedy(prompt []int, n int) ([]int, time.Duration, time.Duration, error) {
	r, err := b.e.Generate(prompt, n)
	if err == nil {
		err = b.collect()
	}
	if err != nil {
		return nil, 0, 0, err
	}
	return r.Tokens, r.Prefill, r.Decode, nil
}

// collect adds the stalls the host loop measured since the last call to
// the backend's totals; nothing without the host loop.
func (b *cudaBackend) collect() error {
	if b.stall == nil {
		return nil
	}
	host, err := b.e.AddStalls(b.stall)
	b.host += host
	return err
}

func (b *cudaBackend) stalls() ([]time.Duration, time.Duration) { return b.stall, b.host }

// gpuPlacer places a policy's experts for engine/cuda (cuda.Experts):
// Place runs the plan on a cudart.Store and gives the engine each GPU
// expert's slot after making the compute stream wait for its copy; Host
// runs a CPU expert straight from the store's pinned arena on all cores
// (package expert: float32 sums, not engine/cpu's float64 ones; see
// docs/ENGINE.md).
type gpuPlacer struct {
	*placer
	s             *cudart.Store
	stream        cu.Stream
	hidden, inter int
	ws            *expert.Workspace
}

func (gp *gpuPlacer) Place(layer int, ids []int32, weights []float32, dev []uint64) error {
	p, l, err := gp.dispatch(layer, ids, weights)
	if err != nil {
		return err
	}
	for i, e := range ids {
		dev[i] = 0
		if p.Device[i] != rt.GPU {
			continue
		}
		k := rt.Key{Layer: l, Expert: e}
		ptr, ready, ok := gp.s.Ptr(k)
		if !ok {
			return fmt.Errorf("engine: policy %s runs expert %v on the GPU, but no slot holds it", gp.p.Name(), k)
		}
		if err := gp.stream.Wait(ready, 0); err != nil {
			return fmt.Errorf("engine: waiting for expert %v's copy: %w", k, err)
		}
		dev[i] = uint64(ptr)
	}
	return nil
}

func (gp *gpuPlacer) Host(layer int, id int32, x, out []float32) error {
	l := gp.moe[layer]
	return expert.Run(out, x, gp.s.Host(rt.Key{Layer: int32(l), Expert: id}), gp.x.DType, gp.hidden, gp.inter, gp.ws)
}

func (gp *gpuPlacer) Launched(int) error { return gp.s.Used(gp.stream) }
