package tune

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/moepolicy/moec/rt"
)

func TestParseCapacities(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
		err  string
	}{
		{"4:16:4", []int{4, 8, 12, 16}, ""},
		{"4:14:4", []int{4, 8, 12}, ""},
		{"2:4", []int{2, 3, 4}, ""},
		{"7", []int{7}, ""},
		{"9223372036854775806:9223372036854775807", []int{9223372036854775806, 9223372036854775807}, ""},
		{"8:4", nil, "the range is empty"},
		{"0:4", nil, "not a positive integer"},
		{"4:8:0", nil, "not a positive integer"},
		{"a:b", nil, "not a positive integer"},
		{"1:2:3:4", nil, "want lo:hi:step"},
		{"1:100000", nil, "more than 10000"},
	} {
		got, err := ParseCapacities(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseCapacities(%q): %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !cmp.Equal(got, tc.want) {
			t.Errorf("ParseCapacities(%q) = %v, %v, want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestSweep(t *testing.T) {
	r := smallTrace(t, 2000, 4)
	lru := rt.NewSpec("lru", 8)
	lfu := rt.NewSpec("lfu", 8)
	lfu.Cache.Eviction = rt.LFU
	lfu.Prefetch.Strategy, lfu.Prefetch.Budget = rt.History, 6
	caps := []int{4, 8, 16, 32}
	res, err := r.Sweep([]Policy{{"lru", lru}, {"lfu", lfu}}, caps)
	if err != nil {
		t.Fatal(err)
	}
	// Belady never falls as slots grow, and no cache without prefetch
	// beats it.
	for i, b := range res.Belady {
		if i > 0 && b < res.Belady[i-1] {
			t.Errorf("Belady falls from %.4f to %.4f at capacity %d", res.Belady[i-1], b, caps[i])
		}
		if h := res.Cells[0][i].HitRate; h > b {
			t.Errorf("LRU at capacity %d: %.4f beats Belady %.4f", caps[i], h, b)
		}
	}
	// Each cell is what a replay of the policy at that capacity gives.
	for pi, p := range res.Policies {
		for ci, c := range caps {
			s, _, _ := sizeTo(p.Spec, c, r.Shape)
			o := r.replayOne(s)
			if o.err != nil {
				t.Fatal(o.err)
			}
			if got, want := res.Cells[pi][ci].HitRate, o.res.HitRate(); got != want {
				t.Errorf("%s at %d: %.4f, replay gives %.4f", p.Name, c, got, want)
			}
		}
	}
	want := []string{"lfu: prefetch budget 6 lowered to the capacity at capacities below 6"}
	if !cmp.Equal(res.Notes, want) {
		t.Errorf("notes %q, want %q", res.Notes, want)
	}
}

// TestSweepSkips checks that a capacity a policy cannot have is skipped,
// with a note naming the capacities and the reason.
func TestSweepSkips(t *testing.T) {
	r := smallTrace(t, 500, 2)
	pinned := rt.NewSpec("pinned", 16)
	pinned.Cache.Pin = []int{0, 1}
	perLayer := rt.NewSpec("split", 16)
	perLayer.PerLayer = rt.DefaultPerLayer()
	perLayer.PerLayer.MinCapacity = 2
	res, err := r.Sweep([]Policy{{"pinned", pinned}, {"split", perLayer}}, []int{4, 8, 12})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"pinned: capacities 4, 8 skipped: its pinned experts need 10 slots (2 in each of 5 layers)",
		"split: per_layer total_budget set to the capacity",
		"split: capacities 4, 8 skipped: per_layer needs at least 10 slots (5 layers x min_capacity 2)",
	}
	if diff := cmp.Diff(want, res.Notes); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
	for pi := range res.Policies {
		if res.Cells[pi][0].Skip == "" || res.Cells[pi][1].Skip == "" || res.Cells[pi][2].Skip != "" {
			t.Errorf("%s: cells %+v, want 4 and 8 skipped, 12 measured", res.Policies[pi].Name, res.Cells[pi])
		}
	}
}

// TestSweepPolicyHardware checks that a policy's own hardware figures
// time it, with a note: the same policy on a slower link of its own takes
// longer per token.
func TestSweepPolicyHardware(t *testing.T) {
	r := smallTrace(t, 500, 2)
	fast := rt.NewSpec("fast", 8)
	slow := fast.Clone()
	slow.Name, slow.Schedule.PCIeGBps = "slow", 5
	res, err := r.Sweep([]Policy{{"fast", fast}, {"slow", slow}}, []int{8, 16})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"slow: timed with the policy's own schedule pcie_gbps or cpu_expert_ms"}
	if diff := cmp.Diff(want, res.Notes); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
	for ci := range res.Caps {
		f, s := res.Cells[0][ci], res.Cells[1][ci]
		if f.HitRate != s.HitRate || s.MsPerToken < 5*f.MsPerToken {
			t.Errorf("capacity %d: fast %+v, slow %+v; want the same hit rate, 10 times slower copies", res.Caps[ci], f, s)
		}
	}
}
