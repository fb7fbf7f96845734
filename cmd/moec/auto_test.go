package main

import (
	"bytes"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/moepolicy/moec/ast"
	"github.com/moepolicy/moec/model"
	"github.com/moepolicy/moec/parser"
	"github.com/moepolicy/moec/rt"
)

// autoConfigs are the configs of model/testdata, with the
// real dimensions of the models they are named after.
var autoConfigs = []string{
	"mixtral-8x7b.json",
	"qwen1.5-moe-a2.7b.json",
	"deepseek-v2-lite.json",
	"olmoe-1b-7b.json",
	"qwen3-30b-a3b.json",
	"gpt-oss-20b.json",
}

func readAutoConfig(t *testing.T, name string) *model.Config {
	t.Helper()
	m, err := model.ReadConfig(filepath.Join("..", "..", "model", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

const autoGiB = 1 << 30

// TestAutoPlan checks the arithmetic of each family on a 16 GiB GPU
// with the defaults (bf16, 4096 tokens, balanced).
func TestAutoPlan(t *testing.T) {
	type plan struct {
		ExpertMiB        float64
		NonExpert, KV    int64
		Fit, Capacity    int
		Budget, AllSlots int
		Admit, Hybrid    bool
	}
	want := map[string]plan{
		// 16 GiB - 3.0 GiB - 512 MiB - 1.6 GiB = 10.9 GiB = 33 x 336 MiB,
		// fewer than a token's 32 x 2 experts: admission, no prefetch.
		// Its 6.7 ms copies leave room for CPU experts: hybrid.
		"mixtral-8x7b.json":      {336, 3211272192, 512 << 20, 33, 33, 0, 256, true, true},
		"qwen1.5-moe-a2.7b.json": {16.5, 3717402624, 768 << 20, 632, 632, 4, 1440, false, false},
		"deepseek-v2-lite.json":  {16.5, 2623265792, 27 * 576 * 2 * 4096, 734, 734, 4, 1664, false, false},
		// Every expert of OLMoE fits: 1,110 slots for 1,024 experts.
		"olmoe-1b-7b.json": {12, 953421824, 512 << 20, 1110, 1024, 4, 1024, false, false},
		// 21% and 30% of the experts: no prefetch.
		"qwen3-30b-a3b.json": {9, 3082186752, 384 << 20, 1269, 1269, 0, 6144, false, false},
		"gpt-oss-20b.json":   {47.4609375, 3595648128, 192 << 20, 234, 234, 0, 768, false, false},
	}
	for _, name := range autoConfigs {
		m := readAutoConfig(t, name)
		p, err := planAuto(m, autoOptions{config: name, vram: 16 * autoGiB, dtype: model.BF16, context: 4096, strategy: "balanced"})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := plan{float64(p.expert) / (1 << 20), p.nonExpert, p.kv, p.fit, p.capacity, p.budget, m.Slots(), p.admit, p.hybrid}
		if d := cmp.Diff(want[name], got); d != "" {
			t.Errorf("%s (-want +got):\n%s", name, d)
		}
	}
}

// TestAutoStrategies checks what each strategy makes of Mixtral on
// 16 GiB (33 slots fit, fewer than a token's 64 experts: balanced admits),
// on 5.5 GiB (3 fit, fewer than the default prefetch budget: the
// reference wrote capacity 2 with budget 4 there), and what balanced makes
// of it on 40 GiB (99 slots, under 40% of the experts: no prefetch), 48 GiB
// (121, prefetch) and 141 GB (all 256).
func TestAutoStrategies(t *testing.T) {
	type choice struct {
		Capacity int
		Eviction rt.Eviction
		Decay    float64
		Prefetch rt.PrefetchStrategy
		Budget   int
		Schedule rt.ScheduleMode
		FreqWin  int
	}
	for _, tc := range []struct {
		vram     int64
		strategy string
		want     choice
	}{
		{16 * autoGiB, "aggressive", choice{33, rt.LRU, 0.95, rt.PrefetchNone, 4, rt.GPUOnly, 100}},
		{16 * autoGiB, "balanced", choice{33, rt.FrequencyThreshold, 0.95, rt.PrefetchNone, 4, rt.Hybrid, 1280}},
		{16 * autoGiB, "conservative", choice{24, rt.LFU, 0.95, rt.History, 2, rt.GPUOnly, 100}},
		{16 * autoGiB, "max", choice{33, rt.LFU, 0.9, rt.Lookahead, 4, rt.GPUOnly, 100}},
		{11 * autoGiB / 2, "aggressive", choice{3, rt.LRU, 0.95, rt.PrefetchNone, 3, rt.GPUOnly, 100}},
		{11 * autoGiB / 2, "balanced", choice{3, rt.FrequencyThreshold, 0.95, rt.PrefetchNone, 3, rt.Hybrid, 1280}},
		{11 * autoGiB / 2, "conservative", choice{2, rt.LFU, 0.95, rt.History, 2, rt.GPUOnly, 100}},
		{11 * autoGiB / 2, "max", choice{3, rt.LFU, 0.9, rt.Lookahead, 3, rt.GPUOnly, 100}},
		{40 * autoGiB, "balanced", choice{99, rt.LFU, 0.9, rt.PrefetchNone, 4, rt.GPUOnly, 100}},
		{48 * autoGiB, "balanced", choice{121, rt.LFU, 0.9, rt.History, 2, rt.GPUOnly, 100}},
		{141e9, "balanced", choice{256, rt.LFU, 0.9, rt.History, 2, rt.GPUOnly, 100}},
	} {
		s := autoSpec(t, "mixtral-8x7b.json", tc.vram, 4096, tc.strategy)
		got := choice{s.Cache.Capacity, s.Cache.Eviction, s.Cache.Decay, s.Prefetch.Strategy, s.Prefetch.Budget, s.Schedule.Mode, s.Cache.FreqWindow}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("%s on %s (-want +got):\n%s", tc.strategy, formatBytes(tc.vram), d)
		}
	}
}

// autoSpec returns the checked policy moec auto writes for the config
// of model/testdata called name, in bf16.
func autoSpec(t *testing.T, name string, vram int64, context int, strategy string) *rt.Spec {
	t.Helper()
	p, err := planAuto(readAutoConfig(t, name), autoOptions{config: "config.json", vram: vram, dtype: model.BF16, context: context, strategy: strategy})
	if err != nil {
		t.Fatal(err)
	}
	text, err := p.policy()
	if err != nil {
		t.Fatal(err)
	}
	specs, diags := checkSource("auto.moe", text)
	if len(diags) > 0 || len(specs) != 1 {
		t.Fatalf("%s, %s: %v", name, strategy, diags)
	}
	return specs[0]
}

// TestAutoAdmitsSmallExperts checks the balanced strategy on
// Qwen1.5-MoE under 5 GiB: 31 slots for the 96 experts a token needs, so
// a frequency-threshold cache, but its 0.33 ms copies are too short for
// CPU experts to pay: gpu_only.
func TestAutoAdmitsSmallExperts(t *testing.T) {
	spec := autoSpec(t, "qwen1.5-moe-a2.7b.json", 5*autoGiB, 160, "balanced")
	c, s := spec.Cache, spec.Schedule
	type got struct {
		Capacity  int
		Eviction  rt.Eviction
		Threshold float64
		Window    int
		Schedule  rt.ScheduleMode
	}
	if d := cmp.Diff(got{31, rt.FrequencyThreshold, 0.00052, 7200, rt.GPUOnly}, got{c.Capacity, c.Eviction, c.FreqThreshold, c.FreqWindow, s.Mode}); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

// TestAutoAlwaysChecks is the promise that moec auto never writes a
// policy moec check rejects: for every family, strategy, format, context
// and a range of GPUs, either the model does not fit (and the error says
// so) or the policy checks, is already formatted, and its capacity and
// prefetch budget are the plan's, the budget within the capacity and the
// capacity within what fits.
func TestAutoAlwaysChecks(t *testing.T) {
	vrams := []string{"4GiB", "5GiB", "5.5GiB", "6GiB", "8GiB", "12GB", "16GiB", "24GB", "40GB", "80GiB", "141GB", "1TiB"}
	for _, name := range autoConfigs {
		m := readAutoConfig(t, name)
		for _, strategy := range autoStrategies {
			for _, dtype := range model.FormatNames() {
				d, _ := model.ParseFormat(dtype)
				for _, context := range []int{1, 4096, 131072} {
					for _, v := range vrams {
						vram, err := parseBytes(v)
						if err != nil {
							t.Fatal(err)
						}
						what := fmt.Sprintf("%s %s %s %d tokens on %s", name, strategy, dtype, context, v)
						p, err := planAuto(m, autoOptions{config: name, vram: vram, dtype: d, context: context, strategy: strategy})
						if err != nil {
							if !strings.Contains(err.Error(), "the model does not fit") {
								t.Errorf("%s: %v", what, err)
							}
							continue
						}
						text, err := p.policy()
						if err != nil {
							t.Errorf("%s: %v", what, err)
							continue
						}
						if f, _ := parser.ParseFile(name, text); !bytes.Equal(ast.Format(f), text) {
							t.Errorf("%s: the policy is not formatted:\n%s", what, text)
						}
						specs, diags := checkSource(name, text)
						if len(diags) > 0 {
							t.Errorf("%s: %v", what, diags)
							continue
						}
						s := specs[0]
						if s.Cache.Capacity != p.capacity || s.Cache.Capacity > p.fit || s.Cache.Capacity < m.TopK ||
							s.Cache.Capacity > m.Slots() || s.Prefetch.Budget > s.Cache.Capacity {
							t.Errorf("%s: capacity %d, budget %d; plan: fit %d, capacity %d, %d slots, top-%d",
								what, s.Cache.Capacity, s.Prefetch.Budget, p.fit, p.capacity, m.Slots(), m.TopK)
						}
						used := p.nonExpert + p.kv + p.reserve + int64(s.Cache.Capacity)*p.expert
						if used > vram {
							t.Errorf("%s: %s used of %s", what, formatBytes(used), v)
						}
					}
				}
			}
		}
	}
}

func TestAutoDoesNotFit(t *testing.T) {
	m := readAutoConfig(t, "mixtral-8x7b.json")
	_, err := planAuto(m, autoOptions{config: "config.json", vram: 4 * autoGiB, dtype: model.BF16, context: 4096, strategy: "balanced"})
	want := "config.json: the model does not fit in 4.0 GiB: other weights 3.0 GiB + KV cache 512.0 MiB (4096 tokens) + reserve 1.0 GiB leave 0 B, room for 0 experts of 336.0 MiB; one token needs 2 (top-2) in each layer. It would fit on a GPU of 5.2 GiB or more"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

// TestAutoWhatFits checks that "does not fit" says what would: a smaller
// format for the experts, a shorter context, a larger GPU; and that each
// suggestion, taken alone, fits.
func TestAutoWhatFits(t *testing.T) {
	m := readAutoConfig(t, "mixtral-8x7b.json")
	o := autoOptions{config: "config.json", vram: 5 * autoGiB, dtype: model.BF16, context: 4096, strategy: "balanced"}
	_, err := planAuto(m, o)
	want := "config.json: the model does not fit in 5.0 GiB: other weights 3.0 GiB + KV cache 512.0 MiB (4096 tokens) + reserve 1.0 GiB leave 521.5 MiB, room for 1 experts of 336.0 MiB; one token needs 2 (top-2) in each layer. It would fit with -dtype fp8, with -context 2891 or less, or on a GPU of 5.2 GiB or more"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	for _, change := range []func(*autoOptions){
		func(o *autoOptions) { o.dtype = model.FP8 },
		func(o *autoOptions) { o.context = 2891 },
		func(o *autoOptions) { o.vram = 52 * autoGiB / 10 },
	} {
		o := o
		change(&o)
		if _, err := planAuto(m, o); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
	o.context = 2892
	if _, err := planAuto(m, o); err == nil {
		t.Errorf("-context 2892 fits: the suggestion was not the longest")
	}
	// Already 4 bits, and too little left for any context.
	o = autoOptions{config: "config.json", vram: 4 * autoGiB, dtype: model.MXFP4, context: 4096, strategy: "balanced"}
	_, err = planAuto(m, o)
	want = "in each layer. It would fit on a GPU of 4.7 GiB or more"
	if err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("got %v\nwant ...%s", err, want)
	}
}

func TestCommas(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1605636096: "1,605,636,096"} {
		if got := commas(n); got != want {
			t.Errorf("commas(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestAutoHugeContext checks contexts whose KV cache overflows an int64:
// the arithmetic said 0 B for 2^62 tokens and a negative size for
// 2^63-1, and the policy claimed the model fit.
func TestAutoHugeContext(t *testing.T) {
	m := readAutoConfig(t, "mixtral-8x7b.json")
	for _, tc := range []struct {
		context int
		want    string
	}{
		{1 << 62, "config.json: -context: the KV cache of 4611686018427387904 tokens, 131072 bytes a token, is more than 2^63 bytes"},
		{math.MaxInt64, "config.json: -context: the KV cache of 9223372036854775807 tokens, 131072 bytes a token, is more than 2^63 bytes"},
		{1 << 40, "config.json: the model does not fit in 1.0 TiB: other weights 3.0 GiB + KV cache 131072.0 TiB (1099511627776 tokens) + reserve 102.4 GiB leave 0 B, room for 0 experts of 336.0 MiB; one token needs 2 (top-2) in each layer. It would fit with -context 7519871 or less"},
	} {
		_, err := planAuto(m, autoOptions{config: "config.json", vram: 1 << 40, dtype: model.BF16, context: tc.context, strategy: "balanced"})
		if err == nil || err.Error() != tc.want {
			t.Errorf("-context %d:\n got %v\nwant %s", tc.context, err, tc.want)
		}
	}
}

// TestAutoQuant checks that auto sizes a quantized checkpoint as its
// quantization_config says: gpt-oss's experts in MXFP4, DeepSeek-V3's
// every linear layer in fp8. Both were sized as bf16.
func TestAutoQuant(t *testing.T) {
	gptOSS := readAutoConfig(t, "gpt-oss-20b.json")
	o := autoOptions{config: "config.json", vram: 16 * autoGiB, context: 4096, strategy: "balanced"}
	if err := o.useQuant(gptOSS); err != nil {
		t.Fatal(err)
	}
	p, err := planAuto(gptOSS, o)
	if err != nil {
		t.Fatal(err)
	}
	// 3 x 2880 x 2880 weights x 4.25 bits; every expert fits, where in
	// bf16 only 234 of the 768 did.
	if p.dtype != model.MXFP4 || p.linear != model.BF16 || p.expert != 13219200 || p.nonExpert != 3595648128 || p.capacity != gptOSS.Slots() {
		t.Errorf("gpt-oss: %s experts of %d bytes, %s linear, other weights %d, capacity %d of %d",
			p.dtype, p.expert, p.linear, p.nonExpert, p.capacity, gptOSS.Slots())
	}

	ds := readAutoConfig(t, "deepseek-v3.json")
	o = autoOptions{config: "config.json", vram: 80 * autoGiB, context: 4096, strategy: "balanced"}
	if err := o.useQuant(ds); err != nil {
		t.Fatal(err)
	}
	if p, err = planAuto(ds, o); err != nil {
		t.Fatal(err)
	}
	bf16 := model.BF16.Bytes(ds.NonExpertParams().Total())
	// 3 x 7168 x 2048 weights in fp8, and a float32 scale per block of
	// 128 x 128.
	if p.dtype != model.FP8 || p.linear != model.FP8 || p.expert != 44040192+10752 || p.nonExpert >= bf16*6/10 {
		t.Errorf("deepseek-v3: %s experts of %d bytes, %s linear, other weights %d (%d at 16 bits)", p.dtype, p.expert, p.linear, p.nonExpert, bf16)
	}
	text, err := p.policy()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# GPU: 80.0 GiB; experts in fp8 (its quantization_config);", "the linear layers in fp8,\n#   the rest at 16 bits:"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("the policy lacks %q:\n%s", want, text)
		}
	}

	// -dtype wins over quantization_config; a method moec does not know
	// needs -dtype.
	o = autoOptions{config: "config.json", dtype: model.BF16, dtypeFrom: "-dtype"}
	if err := o.useQuant(ds); err != nil || o.dtype != model.BF16 || o.linear != model.BF16 {
		t.Errorf("-dtype bf16 on deepseek-v3: %v, %s experts, %s linear", err, o.dtype, o.linear)
	}
	ds.Quant = &model.Quant{Method: "gptq"}
	o = autoOptions{config: "config.json"}
	if err := o.useQuant(ds); err == nil || err.Error() != `config.json: quant_method "gptq" is not one moec knows (fp8, mxfp4): give the experts' format with -dtype` {
		t.Errorf("gptq: %v", err)
	}
}
