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
