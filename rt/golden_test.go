package rt_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/rttest"
)

// call is one dispatch of a golden trace.
type call = rttest.Call

// run dispatches calls and renders each plan as the reference's notation
// (hit/miss letters, then "/" and device letters, then the copies and
// evictions) so that whole traces compare as strings.
func run(t *testing.T, p rt.Policy, calls []call) []string {
	t.Helper()
	var plan rt.Plan
	var out []string
	for _, c := range calls {
		p.Dispatch(c.Layer, c.Experts, c.Scores, &plan)
		var hm, dev strings.Builder
		for i := range c.Experts {
			hm.WriteString(map[bool]string{true: "H", false: "M"}[plan.Hit[i]])
			dev.WriteString(strings.ToUpper(plan.Device[i].String()[:1]))
		}
		s := hm.String() + "/" + dev.String()
		for _, part := range []struct {
			name string
			keys []rt.Key
		}{{"load", plan.Load}, {"pref", plan.Prefetch}, {"evict", plan.Evict}} {
			if len(part.keys) > 0 {
				s += " " + part.name + keysString(part.keys)
			}
		}
		out = append(out, s)
	}
	return out
}

func keysString(ks []rt.Key) string {
	var parts []string
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("%d.%d", k.Layer, k.Expert))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func calls1(sel ...[]int32) []call {
	var cs []call
	for _, s := range sel {
		cs = append(cs, call{Experts: s})
	}
	return cs
}

func e(ids ...int32) []int32 { return ids }

// at is the dispatch of experts at layer with scores.
func at(layer int, experts []int32, scores []float32) call {
	return call{Layer: layer, Experts: experts, Scores: scores}
}

// TestGolden replays the reference's golden traces G1-G10 (reference
// §4.11). Where moec keeps the reference's semantics the letters and
// counts are the reference's; the copies and evictions are moec's plans.
func TestGolden(t *testing.T) {
	one := rt.Shape{Layers: 1, Experts: 8, TopK: 2}
	tests := []struct {
		name  string
		spec  func(*rt.Spec)
		shape rt.Shape
		calls []call
		want  []string
		stats func(rt.Stats) []int64
		wantN []int64
	}{
		{
			name:  "G1 lru",
			spec:  func(s *rt.Spec) { s.Cache.Capacity = 2; s.Prefetch.Budget = 2 },
			calls: calls1(e(1), e(2), e(1), e(3), e(2), e(1)),
			want: []string{"M/G load[0.1]", "M/G load[0.2]", "H/G", "M/G load[0.3] evict[0.2]",
				"M/G load[0.2] evict[0.1]", "M/G load[0.1] evict[0.3]"},
			stats: func(s rt.Stats) []int64 {
				return []int64{s.Cache.Hits, s.Cache.Misses, s.Cache.Evictions, s.Scheduler.Transfers}
			},
			wantN: []int64{1, 5, 3, 5},
		},
		{
			name:  "G2 lfu",
			spec:  func(s *rt.Spec) { s.Cache.Capacity = 2; s.Cache.Eviction = rt.LFU; s.Prefetch.Budget = 2 },
			calls: calls1(e(1), e(1), e(2), e(3), e(2), e(1)),
			want: []string{"M/G load[0.1]", "H/G", "M/G load[0.2]", "M/G load[0.3] evict[0.2]",
				"M/G load[0.2] evict[0.3]", "H/G"},
			stats: func(s rt.Stats) []int64 { return []int64{s.Cache.Hits, s.Cache.Misses, s.Cache.Evictions} },
			wantN: []int64{2, 4, 2},
		},
		{
			name:  "G3 pins",
			spec:  func(s *rt.Spec) { s.Cache.Capacity = 2; s.Cache.Pin = []int{7}; s.Prefetch.Budget = 2 },
			calls: calls1(e(1), e(2), e(7), e(1)),
			want:  []string{"M/G load[0.1]", "M/G load[0.2] evict[0.1]", "H/G", "M/G load[0.1] evict[0.2]"},
			stats: func(s rt.Stats) []int64 { return []int64{s.Cache.Hits, s.Cache.Misses, s.Cache.Evictions} },
			wantN: []int64{1, 3, 2},
		},
		{
			// Single layer, so the history prefetcher predicts for the same
			// layer, as the reference's id-keyed one does. Worked by hand:
			// 1. [1,2] both miss and fill the cache (scores .9, .1); the
			//    window holds {1,2}, nothing left to predict.
			// 2. [3] misses and evicts 2 (score .1); window {1,2},{3}:
			//    counts 1:1 2:1 3:1; 3 is selected; the first by first
			//    appearance is 1, resident; budget 1 allows one prediction
			//    and it is 1, resident, so nothing is warmed.
			// 3. [1] hits (score .5*.2+.5*.9 = .55); window {1,2},{3},{1}:
			//    1 selected; 2 is predicted and warmed with score 0,
			//    evicting 3 (score .5 < .55): issued 1.
			// 4. [2] hits the warmed 2: useful 1.
			name: "G4 score with history",
			spec: func(s *rt.Spec) {
				s.Cache.Capacity = 2
				s.Cache.Eviction = rt.Score
				s.Cache.ScoreAlpha = 0.5
				s.Prefetch.Strategy = rt.History
				s.Prefetch.Budget = 1
			},
			calls: []call{at(0, e(1, 2), []float32{.9, .1}), at(0, e(3), []float32{.5}), at(0, e(1), []float32{.2}), at(0, e(2), []float32{1})},
			want:  []string{"MM/GG load[0.1 0.2]", "M/G load[0.3] evict[0.2]", "H/G pref[0.2] evict[0.3]", "H/G"},
			stats: func(s rt.Stats) []int64 {
				return []int64{s.Cache.Hits, s.Cache.Misses, s.Cache.Evictions, s.Prefetch.Issued, s.Prefetch.Useful}
			},
			wantN: []int64{2, 3, 2, 1, 1},
		},
		{
			name: "G5 frequency threshold",
			spec: func(s *rt.Spec) {
				s.Cache.Capacity = 2
				s.Cache.Eviction = rt.FrequencyThreshold
				s.Cache.FreqThreshold = 0.3
				s.Cache.FreqWindow = 4
				s.Prefetch.Budget = 2
			},
			calls: calls1(e(1), e(1), e(2), e(3), e(1), e(2)),
			// At the 4th access 3 does not qualify (1/4 < .3): it runs from
			// a slot the policy does not keep, so it is loaded and freed in
			// the same plan.
			want: []string{"M/G load[0.1]", "H/G", "M/G load[0.2]", "M/G load[0.3] evict[0.2 0.3]",
				"H/G", "M/G load[0.2] evict[0.1]"},
			stats: func(s rt.Stats) []int64 { return []int64{s.Cache.Hits, s.Cache.Misses, s.Cache.Evictions} },
			wantN: []int64{2, 4, 2},
		},
		{
			// moec keys are (layer, expert): nothing of one layer is
			// predicted from another's history, and the window of 3
			// dispatches never holds the next layer's selection, so the
			// trace is all misses and nothing is issued (the reference,
			// id-keyed, hits 3 and issues 8).
			name:  "G6 history over layers",
			shape: rt.Shape{Layers: 5, Experts: 8, TopK: 2},
			spec: func(s *rt.Spec) {
				s.Cache.Capacity = 8
				s.Prefetch.Strategy = rt.History
				s.Prefetch.Budget = 2
				s.Prefetch.HistoryWindow = 3
			},
			calls: []call{at(0, e(1, 2), nil), at(1, e(3, 4), nil), at(2, e(1, 3), nil), at(3, e(5, 6), nil), at(4, e(4), nil)},
			want: []string{"MM/GG load[0.1 0.2]", "MM/GG load[1.3 1.4]", "MM/GG load[2.1 2.3]",
				"MM/GG load[3.5 3.6]", "M/G load[4.4] evict[0.1]"},
			stats: func(s rt.Stats) []int64 {
				return []int64{s.Cache.Hits, s.Cache.Misses, s.Prefetch.Issued, s.Prefetch.Useful}
			},
			wantN: []int64{0, 9, 0, 0},
		},
		{
			// Lookahead 2, budget 3, 4 selections remembered per layer.
			// 1-3. l0[1] l1[2] l2[3]: misses; after l0 nothing is known
			//    of l1, l2; after l1, l2 is still empty.
			// 4. l0[1] hits; predicts l1's {2} and l2's {3}: both resident.
			// 5. l1[2,5]: 2 hits, 5 misses; predicts l2's {3}: resident.
			// 6. l2[3] hits; no layer after it.
			// 7. l0[4] misses; predicts l1's 2, 5 (resident) and l2's 3.
			name:  "G7 lookahead",
			shape: rt.Shape{Layers: 3, Experts: 8, TopK: 2},
			spec: func(s *rt.Spec) {
				s.Cache.Capacity = 8
				s.Prefetch.Strategy = rt.Lookahead
				s.Prefetch.Lookahead = 2
				s.Prefetch.Budget = 3
				s.Prefetch.HistoryWindow = 4
			},
			calls: []call{at(0, e(1), nil), at(1, e(2), nil), at(2, e(3), nil), at(0, e(1), nil), at(1, e(2, 5), nil), at(2, e(3), nil), at(0, e(4), nil)},
			want:  []string{"M/G load[0.1]", "M/G load[1.2]", "M/G load[2.3]", "H/G", "HM/GG load[1.5]", "H/G", "M/G load[0.4]"},
			stats: func(s rt.Stats) []int64 { return []int64{s.Cache.Hits, s.Cache.Misses, s.Prefetch.Issued} },
			wantN: []int64{3, 5, 0},
		},
		{
			// The reference's cache still inserts what runs on the CPU;
			// moec copies it in the background. Expert 1's copy, evicted
			// by 2 in the same dispatch, is dropped from the plan.
			name:  "G8 cpu fallback",
			spec:  func(s *rt.Spec) { s.Cache.Capacity = 1; s.Prefetch.Budget = 1; s.Schedule.Mode = rt.CPUFallback },
			calls: calls1(e(1, 2), e(2, 1)),
			want:  []string{"MM/CC pref[0.2]", "HM/GC pref[0.1] evict[0.2]"},
			stats: func(s rt.Stats) []int64 {
				return []int64{s.Cache.Hits, s.Cache.Misses, s.Cache.Evictions, s.Scheduler.GPU, s.Scheduler.CPU, s.Scheduler.Transfers}
			},
			wantN: []int64{1, 3, 2, 1, 3, 0},
		},
		{
			name: "G9 hybrid",
			spec: func(s *rt.Spec) {
				s.Cache.Capacity = 1
				s.Prefetch.Budget = 1
				s.Schedule.Mode = rt.Hybrid
				s.Schedule.OffloadThresholdMS = 40
			},
			calls: calls1(e(1), e(1), e(2)),
			want:  []string{"M/C pref[0.1]", "H/G", "M/C pref[0.2] evict[0.1]"},
			stats: func(s rt.Stats) []int64 { return []int64{s.Scheduler.GPU, s.Scheduler.CPU, s.Scheduler.Transfers} },
			wantN: []int64{1, 2, 0},
		},
		{
			name:  "G10 ttl",
			spec:  func(s *rt.Spec) { s.Cache.Capacity = 4; s.Cache.TTLSet = true; s.Cache.TTL = 2 },
			calls: calls1(e(1), e(2), e(3), e(1)),
			want:  []string{"M/G load[0.1]", "M/G load[0.2]", "M/G load[0.3] evict[0.1]", "M/G load[0.1] evict[0.2]"},
			stats: func(s rt.Stats) []int64 {
				return []int64{s.Cache.Evictions, s.Triggers.TTL.Fired, s.Triggers.TTL.Evicted}
			},
			wantN: []int64{2, 2, 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := rt.NewSpec("golden", 1)
			tt.spec(spec)
			shape := tt.shape
			if shape.Layers == 0 {
				shape = one
			}
			p, err := rt.New(spec, shape)
			if err != nil {
				t.Fatal(err)
			}
			got := run(t, p, tt.calls)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("plans (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantN, tt.stats(p.Stats())); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
		})
	}
}
