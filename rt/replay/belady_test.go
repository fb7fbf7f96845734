package replay_test

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/replay"
	"github.com/moepolicy/moec/rt/rttest"
)

// layer0 returns accesses to the given experts of layer 0.
func layer0(es ...int32) []rt.Key {
	keys := make([]rt.Key, len(es))
	for i, e := range es {
		keys[i] = k(0, e)
	}
	return keys
}

func TestBeladyHandWorked(t *testing.T) {
	for _, tc := range []struct {
		name   string
		acc    []rt.Key
		slots  int
		pin    []rt.Key
		hits   int64
		misses int64
	}{
		// The textbook string with 3 frames: OPT takes 9 faults (LRU 12,
		// FIFO 15).
		{"textbook", layer0(7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1), 3, nil, 11, 9},
		// 1 M {1}; 2 M {1 2}; 3 M, next uses 1@3 2@4: evict 2 {1 3};
		// 1 H; 2 M, next uses 3@5 1@never: evict 1 {3 2}; 3 H.
		{"cycle of three in two", layer0(1, 2, 3, 1, 2, 3), 2, nil, 2, 4},
		// 9 is pinned, 1 slot left: 9 H; 1 M {1}; 2 M, evict 1 {2}; 9 H;
		// 1 M, evict 2 {1}.
		{"pinned", layer0(9, 1, 2, 9, 1), 2, []rt.Key{k(0, 9)}, 2, 3},
		// Every slot pinned: 5 H; 1 M and nothing is loaded; 1 M again.
		{"no free slot", layer0(5, 1, 1), 1, []rt.Key{k(0, 5)}, 1, 2},
		// Same expert id in two layers is two keys: (0,1) M; (1,1) M; with
		// 1 slot each evicts the other: (0,1) M; (1,1) M.
		{"layers are distinct", []rt.Key{k(0, 1), k(1, 1), k(0, 1), k(1, 1)}, 1, nil, 0, 4},
		// One flat cache of 3 over two layers:
		// (0,1) M; (1,1) M; (0,2) M; (1,2) M, next uses (0,1)@4, (1,1)@5,
		// (0,2)@never: evict (0,2); (0,1) H; (1,1) H.
		{"flat over layers", []rt.Key{k(0, 1), k(1, 1), k(0, 2), k(1, 2), k(0, 1), k(1, 1)}, 3, nil, 2, 4},
		{"empty", nil, 4, nil, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := replay.Belady(tc.acc, tc.slots, tc.pin)
			if err != nil {
				t.Fatal(err)
			}
			if r.Hits != tc.hits || r.Misses != tc.misses || r.Slots != tc.slots {
				t.Errorf("Belady = %+v, want hits %d, misses %d, slots %d", r, tc.hits, tc.misses, tc.slots)
			}
		})
	}
}

func TestBeladyPerLayerHandWorked(t *testing.T) {
	// The "flat over layers" accesses with layer 0 given 1 slot and layer
	// 1 given 2: layer 0 sees 1 2 1 in one slot: M M M; layer 1 sees 1 2 1
	// in two: M M H.
	acc := []rt.Key{k(0, 1), k(1, 1), k(0, 2), k(1, 2), k(0, 1), k(1, 1)}
	r, err := replay.BeladyPerLayer(acc, []int{1, 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &replay.OptResult{
		Slots:  3,
		Count:  replay.Count{Hits: 1, Misses: 5},
		Layers: []replay.Count{{Hits: 0, Misses: 3}, {Hits: 1, Misses: 2}},
	}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("BeladyPerLayer (-want +got):\n%s", diff)
	}
	// Pin (1, 2): layer 1 has one free slot, and its accesses 1 2 1 go
	// 1 M, 2 H (pinned), 1 H.
	r, err = replay.BeladyPerLayer(acc, []int{1, 2}, []rt.Key{k(1, 2)})
	if err != nil {
		t.Fatal(err)
	}
	if r.Layers[1] != (replay.Count{Hits: 2, Misses: 1}) {
		t.Errorf("layer 1 with (1, 2) pinned = %+v, want 2 hits, 1 miss", r.Layers[1])
	}
}

func TestBeladyErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func() error
		want string
	}{
		{"no slots", func() error { _, err := replay.Belady(nil, 0, nil); return err },
			"belady: 0 slots, need at least 1"},
		{"negative", func() error { _, err := replay.Belady([]rt.Key{k(0, -1)}, 1, nil); return err },
			"belady: expert (0, -1) is out of range"},
		{"pinned twice", func() error { _, err := replay.Belady(nil, 3, []rt.Key{k(0, 1), k(0, 1)}); return err },
			"belady: expert (0, 1) is pinned twice"},
		{"pins overflow", func() error { _, err := replay.Belady(nil, 1, []rt.Key{k(0, 1), k(1, 1)}); return err },
			"belady: 2 pinned experts do not fit 1 slots"},
		{"layer pins overflow", func() error {
			_, err := replay.BeladyPerLayer(nil, []int{2, 1}, []rt.Key{k(1, 1), k(1, 2)})
			return err
		}, "belady: the pinned experts of layer 1 do not fit its 1 slots"},
		{"layer beyond capacities", func() error { _, err := replay.BeladyPerLayer([]rt.Key{k(2, 0)}, []int{1, 1}, nil); return err },
			"belady: expert (2, 0) is in layer 2, capacities cover 2 layers"},
		{"no capacities", func() error { _, err := replay.BeladyPerLayer(nil, nil, nil); return err },
			"belady: no layer capacities"},
		{"negative capacity", func() error { _, err := replay.BeladyPerLayer(nil, []int{1, -1}, nil); return err },
			"belady: layer 1 has capacity -1, need 0 or more"},
	} {
		if err := tc.run(); err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestBeladyHugeCache checks that a cache of more slots than memory could
// hold, as `moec sweep -capacity` may ask for, holds every expert once
// used.
func TestBeladyHugeCache(t *testing.T) {
	acc := layer0(0, 1, 0, 2, 1, 2)
	r, err := replay.Belady(acc, math.MaxInt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Count != (replay.Count{Hits: 3, Misses: 3}) {
		t.Errorf("Belady = %+v, want 3 hits, 3 misses", r.Count)
	}
	r, err = replay.BeladyPerLayer(acc, []int{math.MaxInt}, nil)
	if err != nil || r.Count != (replay.Count{Hits: 3, Misses: 3}) {
		t.Errorf("BeladyPerLayer = %+v, %v, want 3 hits, 3 misses", r, err)
	}
}

// bruteForceMisses is the fewest misses of a demand cache of free
// unpinned slots, by trying every victim at every full miss. Keys are
// small ints (< 16); pinned keys always hit.
func bruteForceMisses(acc []int, free int, pinned map[int]bool) int {
	type state struct {
		i    int
		mask uint16
	}
	memo := map[state]int{}
	var best func(i int, mask uint16) int
	best = func(i int, mask uint16) int {
		for ; i < len(acc); i++ {
			x := acc[i]
			if pinned[x] || mask&(1<<x) != 0 {
				continue
			}
			if v, ok := memo[state{i, mask}]; ok {
				return v
			}
			v := 0
			switch {
			case free == 0:
				v = 1 + best(i+1, mask)
			case bits.OnesCount16(mask) < free:
				v = 1 + best(i+1, mask|1<<x)
			default:
				v = len(acc) + 1
				for y := range 16 {
					if mask&(1<<y) != 0 {
						v = min(v, 1+best(i+1, mask&^(1<<y)|1<<x))
					}
				}
			}
			memo[state{i, mask}] = v
			return v
		}
		return 0
	}
	return best(0, 0)
}

func TestBeladyIsOptimal(t *testing.T) {
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 6))
		n := 1 + rng.IntN(14)
		distinct := 1 + rng.IntN(6)
		slots := 1 + rng.IntN(4)
		acc := make([]int, n)
		keys := make([]rt.Key, n)
		for i := range acc {
			acc[i] = rng.IntN(distinct)
			keys[i] = k(0, int32(acc[i]))
		}
		pinned := map[int]bool{}
		var pin []rt.Key
		if slots > 1 && rng.IntN(2) == 0 {
			pinned[0] = true
			pin = []rt.Key{k(0, 0)}
		}
		r, err := replay.Belady(keys, slots, pin)
		if err != nil {
			t.Fatal(err)
		}
		if want := bruteForceMisses(acc, slots-len(pin), pinned); r.Misses != int64(want) || r.Hits != int64(n-want) {
			t.Errorf("seed %d: Belady(%v, %d slots, pin %v) = %+v, want %d misses", seed, acc, slots, pin, r.Count, want)
		}
	}
}

// TestBeladyPerLayerIsPerLayer: per-layer Belady is flat Belady on each
// layer's accesses with that layer's slots.
func TestBeladyPerLayerIsPerLayer(t *testing.T) {
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 7))
		shape := rt.Shape{Layers: 1 + rng.IntN(5), Experts: 8 + rng.IntN(24), TopK: 1 + rng.IntN(3)}
		keys := keysOf(randomRows(rng, shape, 500))
		caps := make([]int, shape.Layers)
		for l := range caps {
			caps[l] = 1 + rng.IntN(10)
		}
		pin := []rt.Key{k(0, 0)}
		caps[0] = max(caps[0], 2)
		r, err := replay.BeladyPerLayer(keys, caps, pin)
		if err != nil {
			t.Fatal(err)
		}
		for l := range shape.Layers {
			var sub []rt.Key
			for _, key := range keys {
				if key.Layer == int32(l) {
					sub = append(sub, key)
				}
			}
			var lpin []rt.Key
			if l == 0 {
				lpin = pin
			}
			flat, err := replay.Belady(sub, caps[l], lpin)
			if err != nil {
				t.Fatal(err)
			}
			if flat.Count != r.Layers[l] {
				t.Errorf("seed %d: layer %d: per-layer %+v, flat on its accesses %+v", seed, l, r.Layers[l], flat.Count)
			}
		}
	}
}

// TestBeladyBeatsLRU: on random traces, no LRU replay on the same slots
// and pins hits more often than Belady, per layer or in all, and none
// fills fewer slots than Belady misses.
func TestBeladyBeatsLRU(t *testing.T) {
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 8))
		shape := rt.Shape{Layers: 1 + rng.IntN(6), Experts: 4 + rng.IntN(60), TopK: 1 + rng.IntN(4)}
		var pinIDs []int
		if seed%2 == 0 {
			pinIDs = []int{rng.IntN(shape.Experts)}
		}
		pin := replay.PinnedKeys(shape.Layers, pinIDs)
		slots := len(pin) + shape.TopK + rng.IntN(64)
		rows := randomRows(rng, shape, 2000)
		lru, err := rttest.NewLRU(shape, slots, pinIDs)
		if err != nil {
			t.Fatal(err)
		}
		lru.CPUOnMiss = seed%3 == 0
		r, err := replay.Run(lru, replay.NewSliceSource(rows), replay.Options{Shape: shape, Slots: slots, Pinned: pin})
		if err != nil {
			t.Fatal(err)
		}
		opt, err := replay.Belady(keysOf(rows), slots, pin)
		if err != nil {
			t.Fatal(err)
		}
		if opt.Hits < r.Hits || opt.Accesses() != r.Accesses() {
			t.Errorf("seed %d: Belady %+v, LRU %+v", seed, opt.Count, r.Count)
		}
		if fills := r.Loads + r.Prefetches; fills < opt.Misses {
			t.Errorf("seed %d: LRU filled %d slots, fewer than Belady's %d misses", seed, fills, opt.Misses)
		}
	}
}

func TestAccessesFeedBelady(t *testing.T) {
	keys, err := replay.Accesses(replay.NewSliceSource(exampleRows))
	if err != nil {
		t.Fatal(err)
	}
	// The worked example of TestRunLRU in 3 slots, optimally:
	// (0,0) M; (0,1) M; (1,0) M; (1,1) M, next uses (0,0)@never,
	// (0,1)@4, (1,0)@never: evict (0,0) or (1,0); (0,1) H; (0,2) M,
	// evict whichever of (0,0), (1,0) is left or (0,1), none used again;
	// (1,1) H; (1,3) M. Hits 2, misses 6: LRU was optimal here.
	r, err := replay.Belady(keys, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Count != (replay.Count{Hits: 2, Misses: 6}) {
		t.Errorf("Belady = %+v, want 2 hits, 6 misses", r.Count)
	}
}

// TestBeladyForCountsEveryLayer: the optimum has a count for every layer
// of the replay's shape, as the replay has, however few layers the
// accesses reach: none (an empty trace), or only the first.
func TestBeladyForCountsEveryLayer(t *testing.T) {
	shape := rt.Shape{Layers: 3, Experts: 4, TopK: 2, ExpertBytes: 1}
	for _, tc := range []struct {
		name string
		rows []replay.Row
		want []replay.Count
	}{
		{"no rows", nil, []replay.Count{{}, {}, {}}},
		{"layer 0 only", []replay.Row{{Layer: 0, Experts: []int32{1, 2}}, {Layer: 0, Experts: []int32{1, 3}}},
			[]replay.Count{{Hits: 1, Misses: 3}, {}, {}}},
	} {
		flat := rt.NewSpec("flat", 2)
		flat.Prefetch.Budget = 1
		perLayer := flat.Clone()
		perLayer.Name = "per_layer"
		perLayer.PerLayer = rt.DefaultPerLayer()
		perLayer.PerLayer.MinCapacity, perLayer.PerLayer.TotalBudget = 1, 6 // 2 slots a layer
		for _, spec := range []*rt.Spec{flat, perLayer} {
			p, err := rt.New(spec, shape)
			if err != nil {
				t.Fatal(err)
			}
			res, err := replay.Run(p, replay.NewSliceSource(tc.rows), replay.Options{Shape: shape, Slots: spec.MaxSlots(shape)})
			if err != nil {
				t.Fatal(err)
			}
			acc, err := replay.Accesses(replay.NewSliceSource(tc.rows))
			if err != nil {
				t.Fatal(err)
			}
			opt, err := replay.BeladyFor(acc, spec, res)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Layers) != shape.Layers || !slices.Equal(opt.Layers, tc.want) {
				t.Errorf("%s, %s: replay has %d layers, Belady's layers %v, want %v", tc.name, spec.Name, len(res.Layers), opt.Layers, tc.want)
			}
		}
	}
}
