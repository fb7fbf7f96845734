package model_test

import (
	"testing"

	"github.com/moepolicy/moec/internal/moetest"
	"github.com/moepolicy/moec/model"
)

// FuzzParseConfig reads arbitrary config.json text, seeded with every
// config the repository holds: ParseConfig never panics, and a config it
// accepts describes a model whose sizes every reader can compute with:
// positive sizes, top-k within the experts, every layer's tensors, and
// parameter counts that are positive and add up. (Weights, which lists
// every tensor, is left out: a config within the limits may name 800 M.)
//
//	go test ./model -run '^$' -fuzz FuzzParseConfig -fuzztime 2m
func FuzzParseConfig(f *testing.F) {
	for _, data := range moetest.Files(f, "testdata/*.json", "../testdata/models/*/config.json") {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := model.ParseConfig("config.json", data)
		if err != nil {
			return
		}
		if c.Hidden < 1 || c.Layers < 1 || c.Vocab < 1 || c.Heads < 1 || c.KVHeads < 1 || c.HeadDim < 1 {
			t.Fatalf("accepted sizes hidden %d, layers %d, vocab %d, heads %d/%d of %d", c.Hidden, c.Layers, c.Vocab, c.Heads, c.KVHeads, c.HeadDim)
		}
		if len(c.MoELayers) > 0 && (c.Experts < 1 || c.TopK < 1 || c.TopK > c.Experts || c.ExpertIntermediate < 1) {
			t.Fatalf("accepted %d experts, top-%d, width %d", c.Experts, c.TopK, c.ExpertIntermediate)
		}
		for i := range c.Layers {
			c.Layer(i)
		}
		n, e := c.NonExpertParams().Total(), c.ExpertParams()
		if n <= 0 || e < 0 || c.TotalParams() != n+e*int64(c.Slots()) {
			t.Fatalf("parameters: %d non-expert, %d an expert, %d slots, %d in all", n, e, c.Slots(), c.TotalParams())
		}
		if c.KVBytesPerToken() <= 0 {
			t.Fatalf("%d bytes of KV cache a token", c.KVBytesPerToken())
		}
	})
}
