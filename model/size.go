package model

import (
	"fmt"
	"math"
	"math/bits"
	"strings"
)

// The byte arithmetic of moec auto: how much of a GPU a model's parts
// take. It counts the parameters of the tensors Layer describes, so the
// sizes and the tensor names are one fact. What it leaves out is small
// and stated where it is left out: the biases of gpt-oss's experts (0.03%
// of an expert), DeepSeek-V3's multi-token-prediction layer (not loaded
// for ordinary decoding), gpt-oss's sliding-window layers (their KV cache
// is counted at the full context, an upper bound).

// ExpertParams returns the parameters of one routed expert: the gate, up
// and down projections, 3 x hidden x intermediate.
func (c *Config) ExpertParams() int64 {
	return 3 * int64(c.Hidden) * int64(c.ExpertIntermediate)
}

// Params is a breakdown of the parameters that are not routed experts.
type Params struct {
	Embedding int64 // vocab x hidden
	LMHead    int64 // vocab x hidden, 0 when tied to the embedding
	Attention int64 // all layers: projections, biases, q/k norms, sinks
	Norms     int64 // the layers' two norms and the final norm
	Routers   int64 // the routers, their biases and the shared experts' gates
	Shared    int64 // the shared experts of all MoE layers
	Dense     int64 // the MLPs of the dense layers
}

// Total returns the sum of the parts.
func (p Params) Total() int64 {
	return p.Embedding + p.LMHead + p.Attention + p.Norms + p.Routers + p.Shared + p.Dense
}

// NonExpertParams returns the parameters of everything but the routed
// experts.
func (c *Config) NonExpertParams() Params { return c.params }

// TotalParams returns every parameter of the model, routed experts
// included. ParseConfig bounds it by maxParams, so it fits an int64 with
// room for bytes per parameter.
func (c *Config) TotalParams() int64 {
	return c.params.Total() + int64(c.Slots())*c.ExpertParams()
}

// countParams counts the parameters of every tensor Layer and the
// top-level weights describe, and reports false when the model, routed
// experts included, has more than maxParams. Each shape's dimensions are
// at most maxDim (2^24), so a matrix has less than 2^48 elements and a
// fused expert tensor is checked as it is multiplied.
func (c *Config) countParams() (Params, bool) {
	var (
		p  Params
		ok = true
	)
	c.eachWeight(&p, func(part *int64, ws ...Weight) bool {
		for _, w := range ws {
			n := int64(1)
			for _, d := range w.Shape {
				hi, lo := bits.Mul64(uint64(n), uint64(d))
				if hi != 0 || lo > maxParams {
					ok = false
					return false
				}
				n = int64(lo)
			}
			if !w.Present() {
				n = 0
			}
			if *part += n; *part > maxParams {
				ok = false
			}
		}
		return ok
	}, nil)
	experts, eok := mul(int64(c.Slots()), c.ExpertParams())
	return p, ok && eok && p.Total() <= maxParams-experts
}

// mul returns a x b for a, b >= 0, and false when it exceeds maxParams.
func mul(a, b int64) (int64, bool) {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	return int64(lo), hi == 0 && lo <= maxParams
}

// KVBytesPerToken returns the KV cache bytes one token of context takes,
// in all layers, with 16-bit cache entries: 2 x kv_heads x head_dim per
// layer, or for MLA the compressed kv_lora_rank + qk_rope_head_dim (as
// vLLM and SGLang keep it; transformers' eager code keeps full keys and
// values, which is far more). It is at most a few times the model's
// parameters, so it fits in an int64.
func (c *Config) KVBytesPerToken() int64 {
	per := 2 * int64(c.KVHeads) * int64(c.HeadDim)
	if c.MLA != nil {
		per = int64(c.MLA.KVLoraRank + c.MLA.QKRope)
	}
	return int64(c.Layers) * per * 2
}

// KVBytes returns the KV cache bytes of tokens tokens of context, or an
// error when tokens is not positive or the bytes overflow an int64.
func (c *Config) KVBytes(tokens int64) (int64, error) {
	if tokens < 1 {
		return 0, fmt.Errorf("a KV cache of %d tokens: want at least 1 token", tokens)
	}
	per := c.KVBytesPerToken()
	hi, lo := bits.Mul64(uint64(tokens), uint64(per))
	if hi != 0 || lo > math.MaxInt64 {
		return 0, fmt.Errorf("the KV cache of %d tokens, %d bytes a token, is more than 2^63 bytes", tokens, per)
	}
	return int64(lo), nil
}

// A Format is a format for the weights.
type Format int

// The formats. FP8 is e4m3 with a float32 scale per 128 x 128 block, as
// DeepSeek-V3 ships (8 + 32/16384 bits a weight). Int4 assumes the usual
// GPTQ/AWQ layout: 4 bits a weight plus a 16-bit scale and a 16-bit zero
// point per group of 128 weights, 4.25 bits in all. MXFP4 (OCP
// microscaling, as gpt-oss ships) is 4 bits a weight plus an 8-bit shared
// exponent per block of 32, also 4.25 bits.
const (
	BF16 Format = iota
	FP16
	FP8
	Int4
	MXFP4
)

var formatNames = []string{"bf16", "fp16", "fp8", "int4", "mxfp4"}

// FormatNames returns the names ParseFormat accepts.
func FormatNames() []string { return append([]string(nil), formatNames...) }

// ParseFormat returns the format called s.
func ParseFormat(s string) (Format, error) {
	for i, n := range formatNames {
		if n == s {
			return Format(i), nil
		}
	}
	return 0, fmt.Errorf("unknown dtype %q: want one of %s", s, strings.Join(formatNames, ", "))
}

func (f Format) String() string { return formatNames[f] }

// fp8Block is the weights of one fp8 block, which share a float32 scale.
const fp8Block = 128 * 128

// Bits returns the bits one parameter takes, scales included.
func (f Format) Bits() float64 {
	switch f {
	case FP8:
		return 8 + 32.0/fp8Block
	case Int4, MXFP4:
		return 4.25
	}
	return 16
}

// Bytes returns the bytes n parameters take in f, rounded up; n is at
// most a Config's parameters (2^50), so it cannot overflow.
func (f Format) Bytes(n int64) int64 {
	switch f {
	case FP8:
		return n + (4*n+fp8Block-1)/fp8Block
	case Int4, MXFP4:
		return (n*17 + 31) / 32
	}
	return 2 * n
}
