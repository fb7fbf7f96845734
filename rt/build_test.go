package rt

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// TestKindConstructors checks that each kind's constructor builds the
// cache NewCache builds for that kind: the same concrete type, and the
// same answers and residents on the same accesses, for all layers and for
// one.
func TestKindConstructors(t *testing.T) {
	shape := Shape{Layers: 3, Experts: 16, TopK: 2}
	kinds := []struct {
		eviction Eviction
		build    func(c *CacheSpec, shape Shape, layer, capacity int) Cache
	}{
		{LRU, func(c *CacheSpec, s Shape, l, n int) Cache { return NewLRU(c, s, l, n) }},
		{LFU, func(c *CacheSpec, s Shape, l, n int) Cache { return NewLFU(c, s, l, n) }},
		{Score, func(c *CacheSpec, s Shape, l, n int) Cache { return NewScore(c, s, l, n) }},
		{FrequencyThreshold, func(c *CacheSpec, s Shape, l, n int) Cache { return NewThreshold(c, s, l, n) }},
		{Fallback, func(c *CacheSpec, s Shape, l, n int) Cache { return NewTiered(c, s, l, n) }},
	}
	for _, k := range kinds {
		for _, layer := range []int{-1, 1} {
			spec := NewSpec("p", 9)
			spec.Cache.Eviction, spec.Cache.Pin, spec.Cache.Decay = k.eviction, []int{3}, 0.5
			if k.eviction == Fallback {
				spec.Cache.Primary, spec.Cache.Secondary = LFU, LRU
			}
			want, got := NewCache(&spec.Cache, shape, layer, 9), k.build(&spec.Cache, shape, layer, 9)
			if reflect.TypeOf(got) != reflect.TypeOf(want) {
				t.Fatalf("%v: constructor returns %T, NewCache %T", k.eviction, got, want)
			}
			r := rand.New(rand.NewPCG(1, uint64(k.eviction)))
			var fw, fg Effects
			for i := range 2000 {
				key := Key{Layer: int32(r.IntN(shape.Layers)), Expert: int32(r.IntN(shape.Experts))}
				if layer >= 0 {
					key.Layer = int32(layer)
				}
				score := r.Float32()
				if hw, hg := want.Access(key, score, &fw), got.Access(key, score, &fg); hw != hg {
					t.Fatalf("%v, layer %d, access %d: hit %v, NewCache's cache %v", k.eviction, layer, i, hg, hw)
				}
			}
			if !slices.Equal(got.Residents(nil), want.Residents(nil)) || !slices.Equal(fg.Evicted, fw.Evicted) {
				t.Errorf("%v, layer %d: residents or evictions differ from NewCache's cache", k.eviction, layer)
			}
		}
	}
}

// TestRebuildKeepsResidents checks that Rebuild moves the residents into
// the new cache, victim first, and evicts what does not fit.
func TestRebuildKeepsResidents(t *testing.T) {
	shape := Shape{Layers: 1, Experts: 8, TopK: 1}
	spec := NewSpec("p", 4)
	old := NewLRU(&spec.Cache, shape, -1, 4)
	var fx Effects
	for _, e := range []int32{5, 1, 7, 2} {
		old.Access(Key{Expert: e}, 0, &fx)
	}
	fx.Reset()
	nc := Rebuild(old, NewLFU(&spec.Cache, shape, -1, 2), &fx)
	var _ *LFUCache = nc // the concrete type, with no assertion
	// Inserted victim first, each of the two newest pushes out the oldest.
	if got := nc.Residents(nil); len(got) != 2 || !nc.Contains(Key{Expert: 7}) || !nc.Contains(Key{Expert: 2}) {
		t.Errorf("residents %v, want the two most recently used kept: (0, 7) and (0, 2)", got)
	}
	if want := []Key{{Expert: 5}, {Expert: 1}}; !slices.Equal(fx.Evicted, want) {
		t.Errorf("evicted %v, want %v", fx.Evicted, want)
	}
}

// TestMissRule checks where each miss of a dispatch runs under each
// schedule, for a Mixtral expert (352 MB): at 54 GB/s a copy takes 6.5
// ms, and the CPU runs one in 4 ms.
func TestMissRule(t *testing.T) {
	const gb = 0.352
	for _, c := range []struct {
		name string
		s    ScheduleSpec
		want string // C or G for each of six misses
	}{
		{"gpu_only", ScheduleSpec{Mode: GPUOnly, PCIeGBps: 54, CPUExpertMS: 4}, "GGGGGG"},
		{"cpu_fallback", ScheduleSpec{Mode: CPUFallback, PCIeGBps: 54}, "CCCCCC"},
		// The reference's rule: one estimate against the threshold.
		{"hybrid threshold over", ScheduleSpec{Mode: Hybrid, PCIeGBps: 54, OffloadThresholdMS: 5}, "CCCCCC"},
		{"hybrid threshold under", ScheduleSpec{Mode: Hybrid, PCIeGBps: 54, OffloadThresholdMS: 50}, "GGGGGG"},
		// Shared: the first miss to the CPU (6.5 > 4), the second to the
		// link (6.5 < 8), the third to the CPU (13 > 8), the fourth too
		// (13 > 12), the fifth to the link (13 < 16)...
		{"hybrid shared", ScheduleSpec{Mode: Hybrid, PCIeGBps: 54, CPUExpertMS: 4}, "CGCCGC"},
		// A fast link takes all the misses a layer has.
		{"hybrid fast link", ScheduleSpec{Mode: Hybrid, PCIeGBps: 54, CPUExpertMS: 40}, "GGGGGG"},
	} {
		r := NewMissRule(&c.s, gb)
		for range 2 { // Begin starts over
			r.Begin()
			var got []byte
			for range len(c.want) {
				got = append(got, "GC"[b2i(r.CPU())])
			}
			if string(got) != c.want {
				t.Errorf("%s: misses run %s, want %s", c.name, got, c.want)
			}
		}
	}
	shared := NewMissRule(&ScheduleSpec{Mode: Hybrid, PCIeGBps: 54, CPUExpertMS: 4}, gb)
	if _, ok := shared.Uniform(2); ok {
		t.Error("Uniform(2) of the shared rule: ok, want not")
	}
	if cpu, ok := shared.Uniform(1); !ok || !cpu {
		t.Errorf("Uniform(1) of the shared rule: %v, %v, want true, true", cpu, ok)
	}
	fast := NewMissRule(&ScheduleSpec{Mode: Hybrid, PCIeGBps: 54, CPUExpertMS: 40}, gb)
	if cpu, ok := fast.Uniform(6); !ok || cpu {
		t.Errorf("Uniform(6) with a fast link: %v, %v, want false, true", cpu, ok)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestCalibrated checks that measured figures fill only what the policy
// leaves open, and that a calibrated interpreter decides with them.
func TestCalibrated(t *testing.T) {
	h := Hardware{PCIeGBps: 54, CPUExpertMS: 4}
	open := ScheduleSpec{Mode: Hybrid, PCIeGBps: DefaultPCIeGBps, OffloadThresholdMS: DefaultOffloadMS}
	if got := open.Calibrated(h); got.PCIeGBps != 54 || got.CPUExpertMS != 4 {
		t.Errorf("open schedule calibrated: %+v", got)
	}
	threshold := open
	threshold.OffloadThresholdMS = 40 // the reference's rule, with the measured bandwidth
	if got := threshold.Calibrated(h); got.PCIeGBps != 54 || got.CPUExpertMS != 0 || got.OffloadThresholdMS != 40 {
		t.Errorf("schedule with offload_threshold_ms calibrated: %+v, want 54 GB/s and no CPU time", got)
	}
	stated := ScheduleSpec{Mode: Hybrid, PCIeGBps: 6, CPUExpertMS: 2.1}
	if got := stated.Calibrated(h); got != stated {
		t.Errorf("stated schedule calibrated: %+v, want it unchanged", got)
	}
	if got := open.Calibrated(Hardware{}); got != open {
		t.Errorf("calibrated with nothing measured: %+v", got)
	}

	spec := NewSpec("hybrid", 4)
	spec.Schedule.Mode = Hybrid // offload_threshold_ms 50: at 25 GB/s a 352 MB copy is 14 ms, under it
	shape := Shape{Layers: 1, Experts: 8, TopK: 2, ExpertBytes: 352e6}
	p, err := New(spec, shape)
	if err != nil {
		t.Fatal(err)
	}
	var plan Plan
	next := int32(0)
	devices := func() []Device { // two misses
		p.Dispatch(0, []int32{next, next + 1}, nil, &plan)
		next += 2
		return slices.Clone(plan.Device)
	}
	if got := devices(); !slices.Equal(got, []Device{GPU, GPU}) {
		t.Errorf("uncalibrated: %v, want both misses on the GPU", got)
	}
	p.(Calibrated).Calibrate(h)
	if got := devices(); !slices.Equal(got, []Device{CPU, GPU}) {
		t.Errorf("calibrated: %v, want the first miss on the CPU, the second on the GPU", got)
	}

	// offload_threshold_ms 10 keeps the reference's rule, with the
	// measured bandwidth: a copy takes 14.1 ms at 25 GB/s, over it (every
	// miss on the CPU), and 6.5 ms at 54, under it (every miss on the
	// GPU, where the measured CPU time would have sent the first to the
	// CPU).
	spec.Schedule.OffloadThresholdMS = 10
	if p, err = New(spec, shape); err != nil {
		t.Fatal(err)
	}
	if got := devices(); !slices.Equal(got, []Device{CPU, CPU}) {
		t.Errorf("threshold 10 ms, uncalibrated: %v, want both misses on the CPU", got)
	}
	p.(Calibrated).Calibrate(h)
	if got := devices(); !slices.Equal(got, []Device{GPU, GPU}) {
		t.Errorf("threshold 10 ms, calibrated: %v, want both misses on the GPU", got)
	}
}

// TestFrequencyOver checks the frequency_threshold sizes moec auto and
// moec tune write: three quarters of an even share over perSlot accesses
// a slot, the window at most MaxWindow however large the operands.
func TestFrequencyOver(t *testing.T) {
	for _, c := range []struct {
		slots, perSlot int
		threshold      float64
		window         int
	}{
		{256, 5, 0.0029, 1280}, // Mixtral-8x7B, as auto writes it
		{300, 40, 0.0025, 12000},
		{300, 1e17, 0.0025, MaxWindow},
		{1e17, 1e17, 7.5e-18, MaxWindow},
		{0, 0, 0.75, 1},
	} {
		th, w := FrequencyOver(c.slots, c.perSlot)
		if th != c.threshold || w != c.window {
			t.Errorf("FrequencyOver(%d, %d) = %g, %d; want %g, %d", c.slots, c.perSlot, th, w, c.threshold, c.window)
		}
	}
	if th, w := FrequencyFor(256); th != 0.0029 || w != 1280 {
		t.Errorf("FrequencyFor(256) = %g, %d", th, w)
	}
}
