package engine

import (
	"fmt"
	"strings"
	"testing"

	"github.com/moepolicy/moec/cudart"
	"github.com/moepolicy/moec/parser"
	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/sema"
)

// TestGPUMem checks Options.GPUMem's arithmetic on the host store: a cap
// that leaves room for exactly the policy's largest capacity (grown by an
// adapt rule, or set by per-layer budgets) runs and reports the numbers;
// a byte less is an error naming the bytes.
func TestGPUMem(t *testing.T) {
	dir, cfg, shape := tinyConfig(t, "qwen2_moe")
	const context = 64
	kv, err := cfg.KVBytes(context)
	if err != nil {
		t.Fatal(err)
	}
	skeleton := 2 * cfg.NonExpertParams().Total()
	for _, tc := range []struct {
		src   string
		slots int // the largest capacity
	}{
		{"cache { capacity = 6 }", 6},
		{"cache { capacity = 5 }\nadapt { when hit_rate < 0.3 for 10 accesses { capacity = 14 } }", 14},
		{"cache { capacity = 4 }\nper_layer { allocation = uniform\nmin_capacity = 2\nmax_capacity = 8\ntotal_budget = 12 }", 12},
	} {
		src := "policy p {\n" + tc.src + "\n}\n"
		f, diags := parser.ParseFile("p.moe", []byte(src))
		specs, more := sema.Check(f)
		if diags = append(diags, more...); len(diags) > 0 {
			t.Fatalf("%s: %v", src, diags)
		}
		spec := specs[0]
		fits := 1<<30 + skeleton + kv + int64(tc.slots)*shape.ExpertBytes
		for _, capBytes := range []int64{fits, fits - 1} {
			p, err := rt.New(spec, shape)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Open(dir, Options{MaxContext: context, Policy: p, Store: cudart.OptionsFor(spec, shape), GPUMem: capBytes})
			if capBytes < fits {
				want := fmt.Sprintf("engine: policy p keeps up to %d experts of %d bytes (%d bytes), but a cap of %d bytes leaves %d after the skeleton (%d), the KV cache of %d tokens (%d) and the workspace (%d): room for %d slots",
					tc.slots, shape.ExpertBytes, int64(tc.slots)*shape.ExpertBytes, capBytes, fits-1-1<<30-skeleton-kv, skeleton, context, kv, 1<<30, tc.slots-1)
				if err == nil || err.Error() != want {
					t.Errorf("%s, a byte short: error %v\nwant %s", tc.src, err, want)
				}
				if m != nil {
					m.Close()
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", tc.src, err)
			}
			r, err := m.Generate([]int{1, 17}, 3, Sampling{})
			m.Close()
			if err != nil {
				t.Fatal(err)
			}
			got := r.Policy.Memory
			want := MemoryPlan{GPUMem: fits, Skeleton: skeleton, KV: kv, Workspace: 1 << 30, ExpertBytes: shape.ExpertBytes, Slots: tc.slots, Capacity: tc.slots, StoreSlots: tc.slots + 4}
			if got == nil || *got != want {
				t.Errorf("%s: memory %+v, want %+v", strings.ReplaceAll(tc.src, "\n", " "), got, want)
			}
		}
	}
	if _, err := Open(dir, Options{GPUMem: 16 << 30}); err == nil || !strings.Contains(err.Error(), "without Options.Policy") {
		t.Errorf("GPUMem without a policy: error %v", err)
	}
}
