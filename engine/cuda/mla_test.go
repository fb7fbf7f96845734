//go:build cuda

package cuda

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/moepolicy/moec/engine/cpu"
	"github.com/moepolicy/moec/model"
)

// TestLatentAttention runs the DeepSeek-V2 tiny checkpoints on the GPU
// over a random prompt of 300 tokens, teacher-forced, and compares every
// step with the CPU reference on the same bf16 weights: the logits, and
// the experts each sparse layer chose. 300 positions take the attention
// past one split of ATTN_SHARE positions (five splits) and YaRN's rope
// past the original context of 128 positions; deepseek_v2 has q_proj and
// greedy top-k, deepseek_v2_qlora q_a_proj/q_b_proj, group-limited top-k
// and routed_scaling_factor 1.5. The GPU caches the latent (mla.go) where
// the CPU caches decompressed keys and values: with an f32 cache the two
// differ by fp32 rounding in another order only (1e-3 leaves a wide
// margin), with a bf16 cache by the latent's rounding too (1e-2, as
// TestTinyCheckpoints). Random tokens give near ties in the routers, which
// the two break apart rarely: 98% of (token, layer) choices must agree.
func TestLatentAttention(t *testing.T) {
	const n = 300
	for _, name := range []string{"deepseek_v2", "deepseek_v2_qlora"} {
		dir := filepath.Join("..", "..", "testdata", "models", name)
		c, err := model.ReadConfig(filepath.Join(dir, "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := supported(c); err != nil {
			t.Fatalf("%s: %v", name, err) // open would skip it
		}
		for _, kvF32 := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/kv-f32=%v", name, kvF32), func(t *testing.T) {
				cfg, ck, e := open(t, dir, Options{MaxContext: n, KVFloat32: kvF32})
				defer ck.Close()
				defer e.Close()
				s, err := cpu.NewSession(bf16Weights(t, cfg, ck), n)
				if err != nil {
					t.Fatal(err)
				}
				rng := rand.New(rand.NewPCG(3, 4))
				seq := make([]int, n)
				for i := range seq {
					seq[i] = rng.IntN(cfg.Vocab)
				}
				worst, worstAt := 0.0, 0
				want := make([][][]int, cfg.Layers) // [layer][pos]: the CPU's choice, nil for dense layers
				err = e.TeacherForced(seq, func(pos int, logits []float32, _ [][]float32) {
					ref, err := s.Step(seq[pos])
					if err != nil {
						t.Fatal(err)
					}
					if r := rel(logits, ref); r > worst {
						worst, worstAt = r, pos
					}
					for l := range want {
						if ids := s.Routing(l).Experts; ids != nil {
							want[l] = append(want[l], slices.Clone(ids))
						}
					}
				})
				if err != nil {
					t.Fatal(err)
				}
				got, err := e.Routing(n)
				if err != nil {
					t.Fatal(err)
				}
				agree, total := 0, 0
				for l := range want {
					if (want[l] == nil) != (got[l] == nil) {
						t.Fatalf("layer %d: sparse on the CPU %v, on the GPU %v", l, want[l] != nil, got[l] != nil)
					}
					for p := range want[l] {
						total++
						if slices.Equal(sorted(got[l][p]), sorted(want[l][p])) {
							agree++
						}
					}
				}
				tol := 1e-2
				if kvF32 {
					tol = 1e-3
				}
				t.Logf("%s, %d positions: worst relative logit error %.2e (position %d), routing equal in %d of %d (layer, position)",
					name, n, worst, worstAt, agree, total)
				if worst > tol {
					t.Errorf("relative logit error %.2e at position %d against the CPU reference, more than %.0e", worst, worstAt, tol)
				}
				if total == 0 || float64(agree) < 0.98*float64(total) {
					t.Errorf("the routing agrees with the CPU's in %d of %d (layer, position) pairs, under 98%%", agree, total)
				}
			})
		}
	}
}

func sorted(s []int) []int {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
