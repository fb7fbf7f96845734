package model

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moepolicy/moec/internal/spell"
)

// A Config is what a model's config.json says, in one vocabulary for
// every family: its dimensions, which layers are sparse, its attention,
// router and rope. Layer(i) gives the tensors of each decoder layer.
type Config struct {
	Type   string // model_type: "mixtral", "qwen2_moe", ...
	Hidden int    // hidden_size
	Layers int    // decoder layers (num_hidden_layers)
	Vocab  int    // vocab_size
	// TiedEmbeddings is true when lm_head shares the embedding matrix
	// (tie_word_embeddings; false when the config does not say, as in
	// the config class of every family here).
	TiedEmbeddings bool
	RMSNormEps     float64 // rms_norm_eps, of every RMSNorm
	Rope           Rope
	// MaxPositions is max_position_embeddings, the context the model
	// was made for; 0 when the config does not say.
	MaxPositions int

	// MoELayers lists the layers whose MLP is a mixture of experts, in
	// order; the others have a dense MLP DenseIntermediate wide.
	MoELayers          []int
	Experts            int // routed experts per MoE layer
	TopK               int // experts each token is routed to, per layer
	ExpertIntermediate int // the width of one routed expert
	SharedExperts      int // shared experts per MoE layer (always run)
	SharedIntermediate int // the width of one shared expert
	SharedGate         bool
	DenseIntermediate  int
	Router             Router
	// HiddenAct is hidden_act, the gate activation of every MLP ("silu"
	// when the config does not say), and MLPBias is mlp_bias, biases on
	// the MLPs' projections. Every family here ships silu without
	// biases; the engines run only that (gpt-oss's clamped SwiGLU, which
	// its config also calls silu, is Activation).
	HiddenAct string
	MLPBias   bool

	// Attention. Heads and KVHeads count query and key/value heads of
	// HeadDim each; MLA is set for DeepSeek's multi-head latent
	// attention, which replaces the key/value heads (and whose head
	// sizes are its own).
	Heads, KVHeads, HeadDim int
	MLA                     *MLA

	// Quant is what quantization_config says of the checkpoint's
	// weights; nil when the config has none (the weights are in
	// torch_dtype, 16 bits for every family here).
	Quant *Quant

	family  *family
	bias    attnBias // which projections of grouped-query attention have biases
	clipQKV float64  // OLMoE's clip_qkv; 0 for none
	swiglu  SwiGLU
	sparse  []bool // by layer
	windows []int  // by layer: the sliding window, 0 for full attention
	params  Params // counted once by ParseConfig
}

// MLA holds the sizes of DeepSeek's multi-head latent attention.
type MLA struct {
	KVLoraRank int // kv_lora_rank: the compressed key/value, what the cache keeps
	QLoraRank  int // q_lora_rank, 0 when the config has null (V2-Lite)
	QKRope     int // qk_rope_head_dim
	QKNope     int // qk_nope_head_dim
	VHead      int // v_head_dim
	// NormEps is the epsilon of q_a_layernorm and kv_a_layernorm: both
	// are DeepseekV2RMSNorm(rank), whose default 1e-6 holds whatever
	// rms_norm_eps says (in DeepSeek's code and in transformers').
	NormEps float64
	// SoftmaxScale multiplies q . k before the softmax:
	// (QKNope + QKRope)^-0.5, times YarnMScale(factor, mscale_all_dim)^2
	// when the rope is scaled and mscale_all_dim is set, as DeepSeek's
	// code computes it and transformers since its PR #47435 (July 2026;
	// its DeepSeek-V3 always did).
	SoftmaxScale float64
}

// A Router is how a sparse layer turns its router's logits into TopK
// experts and their weights.
type Router struct {
	Scoring Scoring
	// NormTopK divides the chosen experts' weights by their sum
	// (norm_topk_prob; Mixtral always does).
	NormTopK bool
	// Scale multiplies the weights (DeepSeek's routed_scaling_factor; 1
	// for the others).
	Scale float64
	// Groups and GroupsKept are DeepSeek's n_group and topk_group: the
	// experts fall into Groups equal groups, each scored by GroupScore,
	// and the experts are chosen among the best GroupsKept groups. Both
	// are 1 when the choice is not grouped.
	Groups, GroupsKept int
	GroupScore         GroupScore
}

// Scoring is how router logits become expert scores.
type Scoring int

const (
	// Softmax: scores are the softmax of all logits; the TopK best are
	// chosen, weighted by their scores (Mixtral, Qwen, OLMoE,
	// DeepSeek-V2).
	Softmax Scoring = iota
	// Sigmoid: scores are sigmoid(logits); the choice ranks score + the
	// layer's MoE.RouterBias, the weights are the scores alone
	// (DeepSeek-V3's noaux_tc).
	Sigmoid
	// TopKSoftmax: the TopK largest logits are chosen, weighted by the
	// softmax of those TopK alone (gpt-oss).
	TopKSoftmax
)

var scoringNames = [...]string{Softmax: "softmax", Sigmoid: "sigmoid", TopKSoftmax: "top-k softmax"}

// String names the scoring as configs' scoring_func does.
func (s Scoring) String() string {
	if s < 0 || int(s) >= len(scoringNames) {
		return fmt.Sprintf("Scoring(%d)", int(s))
	}
	return scoringNames[s]
}

// GroupScore is how DeepSeek scores a group of experts.
type GroupScore int

const (
	GroupMax     GroupScore = iota // the group's best score (V2's group_limited_greedy)
	GroupTop2Sum                   // the sum of its two best biased scores (V3's noaux_tc)
)

// SwiGLU is gpt-oss's clamped gated activation: with g = min(gate,
// Limit) and u = clamp(up, -Limit, Limit), out = (u + 1) * g *
// sigmoid(Alpha * g). The zero SwiGLU is the plain SiLU(gate) * up of the
// other families.
type SwiGLU struct {
	Alpha, Limit float64
}

// Activation returns the gated activation of c's experts and MLPs.
func (c *Config) Activation() SwiGLU { return c.swiglu }

// ClipQKV returns the bound OLMoE clamps q, k and v to (clip_qkv), 0 for
// none.
func (c *Config) ClipQKV() float64 { return c.clipQKV }

// Limits on what a config.json may declare. They are far above every
// published model (the largest have about 128 layers, 512 experts,
// widths of 30,000 and vocabularies of 260,000) and low enough that a
// forged config cannot make moec allocate or loop for long, and that the
// products of the sizes fit in an int64.
const (
	maxLayers  = 1 << 12
	maxExperts = 1 << 16
	maxDim     = 1 << 24 // every width, head count and the vocabulary
	// maxParams bounds the whole model's parameters (2^50, a thousand
	// times the largest published model): with it, every byte count
	// moec derives from a Config fits in an int64, with room.
	maxParams = 1 << 50
	// maxConfigBytes bounds the size of a config.json.
	maxConfigBytes = 16 << 20
)

// ConfigPath returns the config.json that path names: path itself, or
// path/config.json when path is a directory (a checkpoint's).
func ConfigPath(path string) string {
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		return filepath.Join(path, "config.json")
	}
	return path
}

// ReadConfig reads and parses a config.json, or the config.json of the
// directory path. Errors name the file.
func ReadConfig(path string) (*Config, error) {
	path = ConfigPath(path)
	data, err := readBounded(path, maxConfigBytes)
	if err != nil {
		return nil, err
	}
	return ParseConfig(path, data)
}

// ParseConfig reads the config.json in data, as transformers 4.x and 5.x
// write it; name is the file's name, for the errors, which read like
//
//	config.json: qwen2_moe config lacks "moe_intermediate_size"
func ParseConfig(name string, data []byte) (*Config, error) {
	keys, err := decodeObject(name, data)
	if err != nil {
		return nil, err
	}
	raw, ok := keys["model_type"]
	if !ok {
		return nil, fmt.Errorf("%s: no \"model_type\": not a Hugging Face model config", name)
	}
	typ, _ := raw.(string)
	f := families[typ]
	if f == nil {
		msg := fmt.Sprintf("%s: unknown model_type %q", name, fmt.Sprint(raw))
		if s := spell.Suggest(typ, Types()); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		return nil, fmt.Errorf("%s; known: %s", msg, strings.Join(Types(), ", "))
	}
	r := newReader(name, typ, keys)
	c := &Config{Type: typ, family: f}
	c.readCommon(r)
	if *r.err == nil {
		f.read(r, c)
	}
	if *r.err != nil {
		return nil, *r.err
	}
	if err := c.check(name); err != nil {
		return nil, err
	}
	return c, nil
}

// readCommon reads the keys every family shares.
func (c *Config) readCommon(r *reader) {
	c.Hidden = r.int("hidden_size", 1, maxDim)
	c.Layers = r.int("num_hidden_layers", 1, maxLayers)
	c.Vocab = r.int("vocab_size", 1, maxDim)
	c.TiedEmbeddings = r.bool("tie_word_embeddings", false)
	c.RMSNormEps = r.float("rms_norm_eps", c.family.rmsEps, false)
	c.MaxPositions = r.optInt("max_position_embeddings", 0, 1, 1<<30)
	c.Heads = r.int("num_attention_heads", 1, maxDim)
	c.KVHeads = r.optInt("num_key_value_heads", c.Heads, 1, maxDim)
	c.HiddenAct = r.string("hidden_act", "silu")
	c.MLPBias = r.bool("mlp_bias", false)
	if *r.err != nil {
		return
	}
	if r.has("head_dim") {
		c.HeadDim = r.int("head_dim", 1, maxDim)
	} else if c.HeadDim = c.Hidden / c.Heads; c.HeadDim == 0 {
		r.fail("%d attention heads in a hidden size of %d leave 0 dimensions a head, and there is no \"head_dim\"", c.Heads, c.Hidden)
	}
	if c.KVHeads > c.Heads || c.Heads%c.KVHeads != 0 {
		r.fail("%d attention heads cannot share %d key/value heads: want a divisor of num_attention_heads", c.Heads, c.KVHeads)
	}
	c.sparse = make([]bool, c.Layers)
	c.windows = make([]int, c.Layers)
	c.Router = Router{Scale: 1, Groups: 1, GroupsKept: 1}
	c.readRope(r)
	c.readQuant(r)
}

// moe reads the sizes of the routed experts: their width, their number
// and top-k, under the family's names for them.
func (c *Config) moe(r *reader, inter, experts string) {
	c.ExpertIntermediate = r.int(inter, 1, maxDim)
	c.Experts = r.int(experts, 1, maxExperts)
	c.TopK = r.int("num_experts_per_tok", 1, maxExperts)
}

// setSparse makes the layers for which sparse returns true the MoE
// layers; the others are dense, intermediate_size wide. It does nothing
// after an error: the values it would test may be the safe stand-ins the
// reader returns.
func (c *Config) setSparse(r *reader, sparse func(i int) bool) {
	if *r.err != nil {
		return
	}
	for i := range c.Layers {
		if sparse(i) {
			c.sparse[i] = true
			c.MoELayers = append(c.MoELayers, i)
		}
	}
	if len(c.MoELayers) < c.Layers {
		c.DenseIntermediate = r.int("intermediate_size", 1, maxDim)
	}
}

// readLayerTypes reads layer_types (transformers 5.x, and gpt-oss since
// 4.55): "sliding_attention" layers attend to the last window tokens,
// "full_attention" ones to all. Without layer_types, def says which
// layers slide.
func (c *Config) readLayerTypes(r *reader, window int, def func(i int) bool) {
	types := r.strings("layer_types")
	if *r.err != nil {
		return
	}
	if types != nil && len(types) != c.Layers {
		r.fail("\"layer_types\" has %d entries for %d layers", len(types), c.Layers)
		return
	}
	for i := range c.Layers {
		sliding := def(i)
		if types != nil {
			switch types[i] {
			case "sliding_attention":
				sliding = true
			case "full_attention":
				sliding = false
			default:
				r.fail("\"layer_types\" has %q for layer %d, want \"full_attention\" or \"sliding_attention\"", types[i], i)
				return
			}
		}
		if sliding {
			if window == 0 {
				r.fail("layer %d slides, but there is no \"sliding_window\"", i)
				return
			}
			c.windows[i] = window
		}
	}
}

// check checks what no single key says: top-k against the experts, that
// some layer is sparse, the router's groups, and the size of the whole.
func (c *Config) check(name string) error {
	if c.TopK > c.Experts {
		return fmt.Errorf("%s: %s config routes each token to %d experts of %d", name, c.Type, c.TopK, c.Experts)
	}
	if len(c.MoELayers) == 0 {
		return fmt.Errorf("%s: %s config has no MoE layer", name, c.Type)
	}
	if g := c.Router; c.Experts%g.Groups != 0 || g.GroupsKept > g.Groups || c.TopK > g.GroupsKept*(c.Experts/g.Groups) {
		return fmt.Errorf("%s: %d experts in %d groups (n_group), %d kept (topk_group), cannot give top-%d", name, c.Experts, g.Groups, g.GroupsKept, c.TopK)
	}
	p, ok := c.countParams()
	if !ok {
		return fmt.Errorf("%s: the model has more than 2^50 parameters: not a model moec can hold", name)
	}
	c.params = p
	return nil
}

// Sparse reports whether layer i is a MoE layer.
func (c *Config) Sparse(i int) bool { return i >= 0 && i < c.Layers && c.sparse[i] }

// window returns layer i's sliding window, 0 for full attention.
func (c *Config) window(i int) int { return c.windows[i] }

// Layer returns the tensors of decoder layer i, 0 <= i < c.Layers.
func (c *Config) Layer(i int) Layer { return c.family.layer(c, i) }

// Embedding returns the token embedding, [vocab, hidden].
func (c *Config) Embedding() Weight { return mat("model.embed_tokens.weight", c.Vocab, c.Hidden) }

// FinalNorm returns the RMSNorm after the last layer, [hidden].
func (c *Config) FinalNorm() Weight { return vec("model.norm.weight", c.Hidden) }

// LMHead returns the output projection, [vocab, hidden]: the embedding
// itself when TiedEmbeddings (transformers does not save the tied copy).
func (c *Config) LMHead() Weight {
	if c.TiedEmbeddings {
		return c.Embedding()
	}
	return mat("lm_head.weight", c.Vocab, c.Hidden)
}

// Slots returns the (layer, expert) pairs of the model's routed experts.
func (c *Config) Slots() int { return len(c.MoELayers) * c.Experts }
