package model

// A Quant is what a config's quantization_config says: the method, and
// the formats it gives the routed experts and the other linear layers'
// weights (attention, shared experts, dense MLPs). Embeddings, lm_head,
// norms and routers stay at 16 bits in every method moec knows.
type Quant struct {
	Method string // quant_method, as written: "fp8", "mxfp4", "gptq", ...
	// Known is true for the methods moec knows; for the others Experts
	// and Linear are BF16 and mean nothing.
	Known   bool
	Experts Format
	Linear  Format
}

// quantMethods are the quant_method values moec knows, with the formats
// they give the experts and the other linear layers:
//
//   - fp8 (DeepSeek-V3, Qwen3's FP8 checkpoints; transformers'
//     FineGrainedFP8): every linear layer in fp8 e4m3 with a float32
//     scale per 128 x 128 block; the routers are not linear layers and
//     keep 16 bits;
//   - mxfp4 (gpt-oss): only the experts, in MXFP4; its
//     modules_to_not_convert lists attention, router, embedding and
//     lm_head.
var quantMethods = map[string]Quant{
	"fp8":   {Experts: FP8, Linear: FP8},
	"mxfp4": {Experts: MXFP4, Linear: BF16},
}

// readQuant reads quantization_config, when there is one.
func (c *Config) readQuant(r *reader) {
	q := r.object("quantization_config")
	if q == nil {
		return
	}
	method := q.string("quant_method", "")
	if method == "" {
		q.lacks("quant_method")
		return
	}
	known, ok := quantMethods[method]
	known.Method, known.Known = method, ok
	c.Quant = &known
}
