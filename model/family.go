package model

import (
	"slices"
	"strconv"
)

// A family is one architecture, as transformers' modeling_<family>.py
// builds it. Its file holds the rest: how its config.json names its
// sizes (read), and the tensors and rules of each decoder layer (layer).
type family struct {
	name string // as its authors write it: "Qwen2-MoE"
	// The defaults of transformers' config class, for keys a config.json
	// leaves out.
	rmsEps, ropeTheta float64
	// read reads the family's own keys into c, after the keys every
	// family shares (readConfig).
	read func(r *reader, c *Config)
	// layer returns decoder layer i of c.
	layer func(c *Config, i int) Layer
	// chat is the chat format of the family's instruct models; nil when
	// moec knows none.
	chat *Chat
}

// families maps each model_type to its family. DeepSeek-V2 and V3 share
// one reader, which tells them apart by c.Type.
var families = map[string]*family{
	"mixtral":     &mixtral,
	"qwen2_moe":   &qwen2MoE,
	"qwen3_moe":   &qwen3MoE,
	"olmoe":       &olmoe,
	"deepseek_v2": &deepseekV2,
	"deepseek_v3": &deepseekV3,
	"gpt_oss":     &gptOSS,
}

// Types returns the model types ParseConfig knows, sorted.
func Types() []string {
	types := make([]string, 0, len(families))
	for t := range families {
		types = append(types, t)
	}
	slices.Sort(types)
	return types
}

// Family returns the name of c's architecture as its authors write it
// ("Qwen2-MoE", "DeepSeek-V3").
func (c *Config) Family() string { return c.family.name }

// layerPrefix is the start of every tensor name of decoder layer i.
func layerPrefix(i int) string { return "model.layers." + strconv.Itoa(i) + "." }
