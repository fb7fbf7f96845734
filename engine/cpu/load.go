package cpu

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/moepolicy/moec/model"
)

// Supported returns why the reference cannot run cfg, or nil. It runs the
// families of grouped-query attention with plain RoPE and a softmax
// router (Qwen2-MoE, OLMoE, Qwen3-MoE and Mixtral) and DeepSeek-V2.
func Supported(cfg *model.Config) error {
	if cfg.MLA != nil {
		return supportedMLA(cfg)
	}
	switch {
	case cfg.Router.Scoring != model.Softmax || cfg.Router.Groups > 1 || cfg.Router.Scale != 1:
		return fmt.Errorf("%s's router is not a plain softmax top-k, which is all the CPU reference runs yet", cfg.Type)
	case cfg.Activation() != (model.SwiGLU{}):
		return fmt.Errorf("%s's clamped SwiGLU is not in the CPU reference yet", cfg.Type)
	case cfg.Rope.Type != "default" || cfg.Rope.Interleaved || cfg.Rope.Dim != cfg.HeadDim:
		return fmt.Errorf("rope %q over %d of %d dimensions is not in the CPU reference yet", cfg.Rope.Type, cfg.Rope.Dim, cfg.HeadDim)
	case cfg.ClipQKV() != 0:
		return fmt.Errorf("clip_qkv is not in the CPU reference yet")
	case cfg.HeadDim%2 != 0:
		return fmt.Errorf("head_dim %d is odd", cfg.HeadDim)
	}
	return noWindows(cfg)
}

// supportedMLA says why the reference cannot run cfg, a model of
// DeepSeek's multi-head latent attention, or nil. It runs DeepSeek-V2 as
// transformers does, which sets the rules: every query head has its own
// key and value head (repeat_kv cannot share kv_b_proj's heads), and
// norm_topk_prob is refused because transformers' DeepseekV2Moe ignores
// it while DeepSeek's own code divides by the sum instead of scaling (no
// published V2 sets it).
func supportedMLA(cfg *model.Config) error {
	r := cfg.Router
	switch {
	case cfg.Type != "deepseek_v2":
		return fmt.Errorf("%s's multi-head latent attention with a %s router is not in the CPU reference yet (it runs deepseek_v2)", cfg.Type, r.Scoring)
	case r.NormTopK:
		return fmt.Errorf("%s config has \"norm_topk_prob\": true, which transformers ignores and DeepSeek's code applies in place of routed_scaling_factor; the CPU reference runs neither reading", cfg.Type)
	case cfg.KVHeads != cfg.Heads:
		return fmt.Errorf("%s config has %d key/value heads for %d attention heads; multi-head latent attention has one a head", cfg.Type, cfg.KVHeads, cfg.Heads)
	case cfg.Rope.Type != "default" && cfg.Rope.Type != "yarn":
		return fmt.Errorf("%s's rope %q is not in the CPU reference yet", cfg.Type, cfg.Rope.Type)
	case cfg.MLA.QKRope%2 != 0:
		return fmt.Errorf("qk_rope_head_dim %d is odd", cfg.MLA.QKRope)
	}
	if _, _, err := cfg.Rope.Frequencies(cfg.MaxPositions); err != nil {
		return err
	}
	return noWindows(cfg)
}

// noWindows says which layer attends over a sliding window, which the
// reference does not run.
func noWindows(cfg *model.Config) error {
	for i := range cfg.Layers {
		if w := cfg.Layer(i).Attention.Window; w != 0 {
			return fmt.Errorf("layer %d attends over a sliding window of %d, which the CPU reference does not run yet", i, w)
		}
	}
	return nil
}

// Load reads every weight of cfg's model from ck, widened to float32.
func Load(cfg *model.Config, ck *model.Checkpoint) (*Weights, error) {
	return loadWeights(cfg, ck, true)
}

// LoadSkeleton reads every weight but the routed experts, whose Layer.Experts
// stay nil: a session over them takes its experts from an ExpertSource.
func LoadSkeleton(cfg *model.Config, ck *model.Checkpoint) (*Weights, error) {
	return loadWeights(cfg, ck, false)
}

func loadWeights(cfg *model.Config, ck *model.Checkpoint, experts bool) (*Weights, error) {
	if err := Supported(cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", model.ConfigPath(ck.Dir()), err) // what the config asks that the reference lacks
	}
	// What this call widens must fit: every weight, or all but the
	// routed experts, whose store the caller has made and checked.
	check := Fits
	if !experts {
		check = func(cfg *model.Config) error { return FitsSkeleton(cfg, 0) }
	}
	if err := check(cfg); err != nil {
		return nil, err
	}
	inv, ropeScale, err := cfg.Rope.Frequencies(cfg.MaxPositions)
	if err != nil {
		return nil, fmt.Errorf("cpu: %w", err)
	}
	w := &Weights{Dims: Dims{
		Hidden: cfg.Hidden, Heads: cfg.Heads, KVHeads: cfg.KVHeads, HeadDim: cfg.HeadDim, Vocab: cfg.Vocab,
		Eps: float32(cfg.RMSNormEps), InvFreq: inv, RopeScale: ropeScale,
		TopK: cfg.TopK, NormTopK: cfg.Router.NormTopK,
		Groups: cfg.Router.Groups, GroupsKept: cfg.Router.GroupsKept,
	}}
	if cfg.Router.Scale != 1 {
		w.Dims.RouteScale = float32(cfg.Router.Scale) // torch multiplies by the float32 of the Python float
	}
	if m := cfg.MLA; m != nil {
		w.Dims.MLA = &MLADims{
			KVLoraRank: m.KVLoraRank, QLoraRank: m.QLoraRank, QKNope: m.QKNope, QKRope: m.QKRope, VHead: m.VHead,
			NormEps: float32(m.NormEps), Scale: float32(m.SoftmaxScale),
		}
	}
	l := loader{ck: ck}
	w.Embed = l.get(cfg.Embedding())
	w.FinalNorm = l.get(cfg.FinalNorm())
	if cfg.TiedEmbeddings {
		w.LMHead = w.Embed
	} else {
		w.LMHead = l.get(cfg.LMHead())
	}
	for i := range cfg.Layers {
		ly := cfg.Layer(i)
		a := ly.Attention
		if i == 0 && a.QNorm.Present() {
			w.Dims.QKNorm = PerHeadQKNorm
			if a.QNorm.Elems() != int64(cfg.HeadDim) {
				w.Dims.QKNorm = FullQKNorm
			}
		}
		if a.OBias.Present() || a.Sinks.Present() {
			return nil, fmt.Errorf("cpu: layer %d has an o_proj bias or attention sinks, which the CPU reference does not run yet", i)
		}
		lw := Layer{AttnNorm: l.get(ly.InputNorm), MLPNorm: l.get(ly.PostAttentionNorm), O: l.get(a.O)}
		if cfg.MLA != nil {
			lw.Q, lw.QA, lw.QANorm, lw.QB = l.opt(a.Q), l.opt(a.QA), l.opt(a.QANorm), l.opt(a.QB)
			lw.KVA, lw.KVANorm, lw.KVB = l.get(a.KVA), l.get(a.KVANorm), l.get(a.KVB)
		} else {
			lw.Q, lw.K, lw.V = l.get(a.Q), l.get(a.K), l.get(a.V)
			lw.QBias, lw.KBias, lw.VBias = l.opt(a.QBias), l.opt(a.KBias), l.opt(a.VBias)
			lw.QNorm, lw.KNorm = l.opt(a.QNorm), l.opt(a.KNorm)
		}
		if m := ly.MoE; m != nil {
			if m.RouterBias.Present() {
				return nil, fmt.Errorf("cpu: layer %d's router has a bias, which the CPU reference does not add yet", i)
			}
			lw.Router = l.get(m.Router)
			for e := range cfg.Experts {
				if experts {
					lw.Experts = append(lw.Experts, l.mlp(m.Expert(e), cfg.ExpertIntermediate))
				}
			}
			if m.Shared.Gate.Present() {
				s := l.mlp(m.Shared, cfg.SharedIntermediate*max(cfg.SharedExperts, 1))
				lw.Shared = &s
				lw.SharedGate = l.opt(m.SharedGate)
			}
		} else {
			d := l.mlp(ly.MLP, cfg.DenseIntermediate)
			lw.Dense = &d
		}
		w.Layers = append(w.Layers, lw)
		if l.err != nil {
			break
		}
	}
	if l.err != nil {
		return nil, l.err
	}
	return w, nil
}

// A loader reads weights, keeping the first error.
type loader struct {
	ck  *model.Checkpoint
	err error
}

func (l *loader) get(w model.Weight) []float32 {
	if l.err != nil {
		return nil
	}
	f, err := l.ck.Float32(w)
	if err != nil {
		l.err = err
	}
	return f
}

func (l *loader) opt(w model.Weight) []float32 {
	if !w.Present() {
		return nil
	}
	return l.get(w)
}

func (l *loader) mlp(m model.MLP, inter int) MLP {
	return MLP{Gate: l.get(m.Gate), Up: l.get(m.Up), Down: l.get(m.Down), Inter: inter}
}

// Fits reports, from the config alone, whether the model's weights in
// float32 fit in the memory the kernel says is available: the reference
// widens every weight (Load), so it is for small checkpoints.
func Fits(cfg *model.Config) error {
	avail, ok := memAvailable()
	return fits(cfg, 4*cfg.TotalParams(), 0, avail, ok)
}

// FitsSkeleton reports whether the model's weights but its routed
// experts in float32 (LoadSkeleton), and experts bytes more for the
// experts as the caller keeps them, fit in the memory the kernel says is
// available.
func FitsSkeleton(cfg *model.Config, experts int64) error {
	avail, ok := memAvailable()
	return fits(cfg, 4*cfg.NonExpertParams().Total(), experts, avail, ok)
}

// fits is Fits and FitsSkeleton with the memory available, avail, known
// when ok: weights bytes in float32 and experts bytes as stored.
func fits(cfg *model.Config, weights, experts, avail int64, ok bool) error {
	if need := weights + experts; ok && need > avail {
		what := "in float32"
		if experts > 0 {
			what = fmt.Sprintf("(%.1f GiB of weights in float32, %.1f GiB of experts)", float64(weights)/(1<<30), float64(experts)/(1<<30))
		}
		return fmt.Errorf("cpu: %s needs %.1f GiB of memory %s, but %.1f GiB is available; the CPU reference is for small checkpoints (-device cuda runs large ones)",
			cfg.Type, float64(need)/(1<<30), what, float64(avail)/(1<<30))
	}
	return nil
}

// memAvailable returns the memory the kernel says can be allocated
// (MemAvailable in /proc/meminfo), and false where it cannot tell.
func memAvailable() (int64, bool) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, false
			}
			return kb << 10, true
		}
	}
	return 0, false
}
