// Package hfconfig reads the config.json of a Hugging Face
// Mixture-of-Experts model and works out how many bytes its parts take on
// a GPU: one routed expert, the weights that are not routed experts, and
// the KV cache.
//
// It knows the families whose configs name their sizes differently:
// Mixtral (model_type "mixtral"), Qwen1.5/Qwen2-MoE ("qwen2_moe"),
// Qwen3-MoE ("qwen3_moe"), DeepSeek-V2/V3 ("deepseek_v2", "deepseek_v3"),
// OLMoE ("olmoe") and gpt-oss ("gpt_oss").
//
// The arithmetic counts parameters from the config alone, the way the
// models' modeling code lays them out. What it leaves out is small and
// stated where it is left out: the biases of gpt-oss's experts (0.03% of
// an expert), DeepSeek-V3's multi-token-prediction layer (not loaded for
// ordinary decoding), gpt-oss's sliding-window layers (their KV cache is
// counted at the full context, an upper bound).
package hfconfig

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/moepolicy/moec/internal/spell"
)

// A Model is what the byte arithmetic needs to know about a model.
type Model struct {
	Type   string // model_type: "mixtral", "qwen2_moe", ...
	Hidden int    // hidden_size
	Layers int    // decoder layers (num_hidden_layers)
	Vocab  int    // vocab_size
	// TiedEmbeddings is true when lm_head shares the embedding matrix
	// (tie_word_embeddings; false when the config does not say, as in
	// the modeling code of every family here).
	TiedEmbeddings bool

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

	// Attention. Heads and KVHeads count query and key/value heads of
	// HeadDim each; MLA is set for DeepSeek's multi-head latent
	// attention, which replaces the key/value heads.
	Heads, KVHeads, HeadDim int
	MLA                     *MLA
	// AttnBias is the number of attention bias (and sink) parameters per
	// layer; QKNorm the parameters of the q/k norms per layer.
	AttnBias, QKNorm int
	// RouterBias is the number of router bias parameters per MoE layer
	// (gpt-oss's router bias, DeepSeek-V3's score correction).
	RouterBias int
}

// MLA holds the sizes of DeepSeek's multi-head latent attention.
type MLA struct {
	KVLoraRank int // kv_lora_rank: the compressed key/value, what the cache keeps
	QLoraRank  int // q_lora_rank, 0 when the config has null (V2-Lite)
	QKRope     int // qk_rope_head_dim
	QKNope     int // qk_nope_head_dim
	VHead      int // v_head_dim
}

// ReadFile reads and parses a config.json. Errors name the file.
func ReadFile(path string) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// families maps each model_type to the function that reads its config.
var families = map[string]func(c *config, m *Model){
	"mixtral":     readMixtral,
	"qwen2_moe":   readQwen2MoE,
	"qwen3_moe":   readQwen3MoE,
	"deepseek_v2": readDeepSeek,
	"deepseek_v3": readDeepSeek,
	"olmoe":       readOLMoE,
	"gpt_oss":     readGPTOSS,
}

// Types returns the model types Parse knows, sorted.
func Types() []string {
	types := make([]string, 0, len(families))
	for t := range families {
		types = append(types, t)
	}
	sort.Strings(types)
	return types
}

// Parse reads the config.json in data; name is the file's name, for the
// errors, which read like
//
//	config.json: qwen2_moe config lacks "moe_intermediate_size"
func Parse(name string, data []byte) (*Model, error) {
	c := &config{name: name}
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(&c.keys); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object: %v", name, strings.TrimPrefix(err.Error(), "json: "))
	}
	var typ string
	raw, ok := c.keys["model_type"]
	if !ok {
		return nil, fmt.Errorf("%s: no \"model_type\": not a Hugging Face model config", name)
	}
	if s, isString := raw.(string); isString {
		typ = s
	}
	read := families[typ]
	if read == nil {
		msg := fmt.Sprintf("%s: unknown model_type %q", name, fmt.Sprint(raw))
		if s := spell.Suggest(typ, Types()); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		return nil, fmt.Errorf("%s; known: %s", msg, strings.Join(Types(), ", "))
	}
	c.typ = typ
	m := &Model{
		Type:           typ,
		Hidden:         c.int("hidden_size", 1),
		Layers:         c.int("num_hidden_layers", 1),
		Vocab:          c.int("vocab_size", 1),
		TiedEmbeddings: c.optBool("tie_word_embeddings", false),
		Heads:          c.int("num_attention_heads", 1),
	}
	m.KVHeads = c.optInt("num_key_value_heads", m.Heads, 1)
	if c.err == nil {
		m.HeadDim = c.optInt("head_dim", m.Hidden/m.Heads, 1)
	}
	read(c, m)
	if c.err != nil {
		return nil, c.err
	}
	if m.TopK > m.Experts {
		return nil, fmt.Errorf("%s: %s config routes each token to %d experts of %d", name, typ, m.TopK, m.Experts)
	}
	if len(m.MoELayers) == 0 {
		return nil, fmt.Errorf("%s: %s config has no MoE layer", name, typ)
	}
	return m, nil
}

func readMixtral(c *config, m *Model) {
	m.ExpertIntermediate = c.int("intermediate_size", 1)
	m.Experts = c.int("num_local_experts", 1)
	m.TopK = c.int("num_experts_per_tok", 1)
	m.MoELayers = allLayers(m.Layers)
}

// readQwen2MoE follows Qwen2MoeDecoderLayer: layer i is sparse unless it
// is in mlp_only_layers or (i+1) is not a multiple of
// decoder_sparse_step; every sparse layer has one shared expert with a
// sigmoid gate; q, k and v have biases.
func readQwen2MoE(c *config, m *Model) {
	m.ExpertIntermediate = c.int("moe_intermediate_size", 1)
	m.Experts = c.int("num_experts", 1)
	m.TopK = c.int("num_experts_per_tok", 1)
	m.SharedExperts = 1
	m.SharedIntermediate = c.int("shared_expert_intermediate_size", 1)
	m.SharedGate = true
	m.AttnBias = m.Heads*m.HeadDim + 2*m.KVHeads*m.HeadDim
	qwenSparseLayers(c, m)
}

// readQwen3MoE follows Qwen3MoeDecoderLayer: as Qwen2-MoE without the
// shared expert and the biases, with q/k norms of head_dim each.
func readQwen3MoE(c *config, m *Model) {
	m.ExpertIntermediate = c.int("moe_intermediate_size", 1)
	m.Experts = c.int("num_experts", 1)
	m.TopK = c.int("num_experts_per_tok", 1)
	m.QKNorm = 2 * m.HeadDim
	qwenSparseLayers(c, m)
}

func qwenSparseLayers(c *config, m *Model) {
	step := c.optInt("decoder_sparse_step", 1, 1)
	dense := c.optIntList("mlp_only_layers")
	for i := 0; i < m.Layers; i++ {
		if !dense[i] && (i+1)%step == 0 {
			m.MoELayers = append(m.MoELayers, i)
		}
	}
	if c.err == nil && len(m.MoELayers) < m.Layers {
		m.DenseIntermediate = c.int("intermediate_size", 1)
	}
}

// readDeepSeek follows DeepseekV2/V3DecoderLayer: the first
// first_k_dense_replace layers, and those not a multiple of
// moe_layer_freq, have a dense MLP of intermediate_size; the others
// n_routed_experts routed and n_shared_experts shared experts, all
// moe_intermediate_size wide; attention is MLA.
func readDeepSeek(c *config, m *Model) {
	m.ExpertIntermediate = c.int("moe_intermediate_size", 1)
	m.Experts = c.int("n_routed_experts", 1)
	m.TopK = c.int("num_experts_per_tok", 1)
	m.SharedExperts = c.optInt("n_shared_experts", 0, 0)
	m.SharedIntermediate = m.ExpertIntermediate
	m.MLA = &MLA{
		KVLoraRank: c.int("kv_lora_rank", 1),
		QLoraRank:  c.optInt("q_lora_rank", 0, 1),
		QKRope:     c.int("qk_rope_head_dim", 1),
		QKNope:     c.int("qk_nope_head_dim", 1),
		VHead:      c.int("v_head_dim", 1),
	}
	if m.Type == "deepseek_v3" {
		m.RouterBias = m.Experts // e_score_correction_bias
	}
	first := c.optInt("first_k_dense_replace", 0, 0)
	freq := c.optInt("moe_layer_freq", 1, 1)
	for i := first; i < m.Layers; i++ {
		if i%freq == 0 {
			m.MoELayers = append(m.MoELayers, i)
		}
	}
	if c.err == nil && len(m.MoELayers) < m.Layers {
		m.DenseIntermediate = c.int("intermediate_size", 1)
	}
}

// readOLMoE follows OlmoeDecoderLayer: every layer sparse; q and k
// normalised over their full width.
func readOLMoE(c *config, m *Model) {
	m.ExpertIntermediate = c.int("intermediate_size", 1)
	m.Experts = c.int("num_experts", 1)
	m.TopK = c.int("num_experts_per_tok", 1)
	m.QKNorm = m.Heads*m.HeadDim + m.KVHeads*m.HeadDim
	m.MoELayers = allLayers(m.Layers)
}

// readGPTOSS follows GptOssDecoderLayer: every layer sparse; q, k, v and
// o have biases and every head a sink; the router has a bias. The
// experts' own biases (2 x intermediate + hidden per expert) are left out.
func readGPTOSS(c *config, m *Model) {
	m.ExpertIntermediate = c.int("intermediate_size", 1)
	m.Experts = c.int("num_local_experts", 1)
	if _, ok := c.keys["num_experts_per_tok"]; ok {
		m.TopK = c.int("num_experts_per_tok", 1)
	} else if _, ok := c.keys["experts_per_token"]; ok {
		m.TopK = c.int("experts_per_token", 1)
	} else if c.err == nil {
		c.err = fmt.Errorf("%s: gpt_oss config lacks \"experts_per_token\" (or \"num_experts_per_tok\")", c.name)
	}
	m.AttnBias = m.Heads*m.HeadDim + 2*m.KVHeads*m.HeadDim + m.Hidden + m.Heads
	m.RouterBias = m.Experts
	m.MoELayers = allLayers(m.Layers)
}

func allLayers(n int) []int {
	l := make([]int, n)
	for i := range l {
		l[i] = i
	}
	return l
}

// ExpertParams returns the parameters of one routed expert: the gate, up
// and down projections, 3 x hidden x intermediate.
func (m *Model) ExpertParams() int64 {
	return 3 * int64(m.Hidden) * int64(m.ExpertIntermediate)
}

// Slots returns the (layer, expert) pairs of the model's routed experts.
func (m *Model) Slots() int { return len(m.MoELayers) * m.Experts }

// Params is a breakdown of the parameters that are not routed experts.
type Params struct {
	Embedding int64 // vocab x hidden
	LMHead    int64 // vocab x hidden, 0 when tied to the embedding
	Attention int64 // all layers: projections, biases, q/k norms
	Norms     int64 // the layers' two norms and the final norm
	Routers   int64 // hidden x experts per MoE layer, plus biases and shared-expert gates
	Shared    int64 // the shared experts of all MoE layers
	Dense     int64 // the MLPs of the dense layers
}

// Total returns the sum of the parts.
func (p Params) Total() int64 {
	return p.Embedding + p.LMHead + p.Attention + p.Norms + p.Routers + p.Shared + p.Dense
}

// NonExpertParams returns the parameters of everything but the routed
// experts.
func (m *Model) NonExpertParams() Params {
	h, layers, moe := int64(m.Hidden), int64(m.Layers), int64(len(m.MoELayers))
	p := Params{
		Embedding: int64(m.Vocab) * h,
		Norms:     (2*layers + 1) * h,
		Routers:   moe * (h*int64(m.Experts) + int64(m.RouterBias)),
		Shared:    moe * int64(m.SharedExperts) * 3 * h * int64(m.SharedIntermediate),
		Dense:     (layers - moe) * 3 * h * int64(m.DenseIntermediate),
	}
	if !m.TiedEmbeddings {
		p.LMHead = p.Embedding
	}
	if m.SharedGate {
		p.Routers += moe * h
	}
	p.Attention = layers * m.attentionParams()
	return p
}

// attentionParams returns the attention parameters of one layer.
func (m *Model) attentionParams() int64 {
	h, heads := int64(m.Hidden), int64(m.Heads)
	if a := m.MLA; a != nil {
		qHead := int64(a.QKNope + a.QKRope)
		var q int64
		if a.QLoraRank == 0 {
			q = h * heads * qHead // q_proj
		} else {
			r := int64(a.QLoraRank)
			q = h*r + r + r*heads*qHead // q_a_proj, q_a_layernorm, q_b_proj
		}
		kvr := int64(a.KVLoraRank)
		kv := h*(kvr+int64(a.QKRope)) + kvr + kvr*heads*int64(a.QKNope+a.VHead) // kv_a_proj_with_mqa, kv_a_layernorm, kv_b_proj
		o := heads * int64(a.VHead) * h
		return q + kv + o
	}
	q := heads * int64(m.HeadDim)
	kv := int64(m.KVHeads) * int64(m.HeadDim)
	return h*q + 2*h*kv + q*h + int64(m.AttnBias) + int64(m.QKNorm)
}

// KVBytesPerToken returns the KV cache bytes one token of context takes,
// in all layers, with 16-bit cache entries: 2 x kv_heads x head_dim per
// layer, or for MLA the compressed kv_lora_rank + qk_rope_head_dim (as
// vLLM and SGLang keep it; transformers' eager code keeps full keys and
// values, which is far more).
func (m *Model) KVBytesPerToken() int64 {
	per := 2 * int64(m.KVHeads) * int64(m.HeadDim)
	if m.MLA != nil {
		per = int64(m.MLA.KVLoraRank + m.MLA.QKRope)
	}
	return int64(m.Layers) * per * 2
}

// A DType is a format for the expert weights.
type DType int

// The formats. Int4 assumes the usual GPTQ/AWQ layout: 4 bits a weight
// plus a 16-bit scale and a 16-bit zero point per group of 128 weights,
// 4.25 bits in all. MXFP4 (OCP microscaling, as gpt-oss ships) is 4 bits
// a weight plus an 8-bit shared exponent per block of 32, also 4.25 bits.
const (
	BF16 DType = iota
	FP16
	Int4
	MXFP4
)

var dtypeNames = []string{"bf16", "fp16", "int4", "mxfp4"}

// DTypeNames returns the names ParseDType accepts.
func DTypeNames() []string { return append([]string(nil), dtypeNames...) }

// ParseDType returns the format called s.
func ParseDType(s string) (DType, error) {
	for i, n := range dtypeNames {
		if n == s {
			return DType(i), nil
		}
	}
	return 0, fmt.Errorf("unknown dtype %q: want one of %s", s, strings.Join(dtypeNames, ", "))
}

func (d DType) String() string { return dtypeNames[d] }

// Bits returns the bits one parameter takes, scales included.
func (d DType) Bits() float64 {
	if d == Int4 || d == MXFP4 {
		return 4.25
	}
	return 16
}

// Bytes returns the bytes n parameters take in d, rounded up.
func (d DType) Bytes(n int64) int64 {
	if d == Int4 || d == MXFP4 {
		return (n*17 + 31) / 32
	}
	return 2 * n
}

// config is a config.json being read; the first error sticks, so that
// the readers can go on without checking every key.
type config struct {
	name, typ string
	keys      map[string]any
	err       error
}

func (c *config) lacks(key string) {
	if c.err == nil {
		c.err = fmt.Errorf("%s: %s config lacks %q", c.name, c.typ, key)
	}
}

func (c *config) bad(key string, v any, want string) {
	if c.err == nil {
		b, _ := json.Marshal(v)
		c.err = fmt.Errorf("%s: %q is %s, want %s", c.name, key, b, want)
	}
}

// int returns the integer at key, at least min; a missing or null key is
// an error.
func (c *config) int(key string, min int) int {
	v, ok := c.keys[key]
	if !ok || v == nil {
		c.lacks(key)
		return 0
	}
	return c.toInt(key, v, min)
}

// optInt returns the integer at key, at least min, or def when the key is
// missing or null.
func (c *config) optInt(key string, def, min int) int {
	v, ok := c.keys[key]
	if !ok || v == nil {
		return def
	}
	return c.toInt(key, v, min)
}

func (c *config) toInt(key string, v any, min int) int {
	n, ok := v.(json.Number)
	if ok {
		f, err := n.Float64()
		if err == nil && f == math.Trunc(f) && f >= float64(min) && f <= 1<<31 {
			return int(f)
		}
	}
	want := "a positive integer"
	if min == 0 {
		want = "an integer >= 0"
	}
	c.bad(key, v, want)
	return 0
}

func (c *config) optBool(key string, def bool) bool {
	v, ok := c.keys[key]
	if !ok || v == nil {
		return def
	}
	b, ok := v.(bool)
	if !ok {
		c.bad(key, v, "true or false")
	}
	return b
}

// optIntList returns the set of layer numbers listed at key.
func (c *config) optIntList(key string) map[int]bool {
	set := map[int]bool{}
	v, ok := c.keys[key]
	if !ok || v == nil {
		return set
	}
	list, ok := v.([]any)
	if !ok {
		c.bad(key, v, "a list of layer numbers")
		return set
	}
	for _, x := range list {
		set[c.toInt(key, x, 0)] = true
	}
	return set
}
