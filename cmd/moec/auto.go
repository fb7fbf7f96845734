package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/moepolicy/moec/engine"
	"github.com/moepolicy/moec/model"
	"github.com/moepolicy/moec/policy"
	"github.com/moepolicy/moec/rt"
)

var autoCommand = &command{
	name:      "auto",
	usageLine: "-config config.json|dir -vram size [-dtype format] [-context n] [-strategy name] [-json] [-o file]",
	short:     "write a policy that fits a model on a GPU",
	long: `Auto reads a model's Hugging Face config.json and writes a policy whose
cache holds as many experts as the GPU really has room for. It knows
Mixtral, Qwen1.5/Qwen2-MoE, Qwen3-MoE, DeepSeek-V2/V3, OLMoE and gpt-oss
(model_type mixtral, qwen2_moe, qwen3_moe, deepseek_v2, deepseek_v3, olmoe,
gpt_oss).

The room for experts is the GPU's memory less the weights that are not
routed experts (embeddings, lm_head, attention, norms, routers, shared
experts, dense layers; at 16 bits, but for the linear layers of an fp8
checkpoint, counted in fp8), less the KV cache of one sequence of
-context tokens (16 bits; DeepSeek's MLA caches its compressed
kv_lora_rank + qk_rope_head_dim values), less a reserve for the CUDA
context, activations and allocator slack (a tenth of the GPU, at least 1
GiB). The capacity is the number of (layer, expert) slots of one expert's
size that fit there, at most every expert of the model. The policy's
comments show the arithmetic.

A model that leaves no room for the experts one token needs in one layer
is an error that says what would fit: a smaller -dtype, the longest
-context that fits, the smallest GPU.

The flags are:

	-config file
		The model's config.json, or the checkpoint's directory that
		holds it.
	-vram size
		The GPU's memory, with a suffix: 16GiB, 24GB, 80GiB.
	-dtype format
		The format of the expert weights: bf16, fp16, fp8 (e4m3 plus a
		32-bit scale per block of 128 x 128, as DeepSeek-V3 ships),
		int4 (4 bits plus a 16-bit scale and zero point per group of
		128 weights) or mxfp4 (4 bits plus an 8-bit exponent per block
		of 32, as gpt-oss ships); both 4-bit formats take 4.25 bits a
		weight. By default, the format the config's quantization_config
		names (quant_method fp8 or mxfp4), else bf16; another
		quant_method needs -dtype.
	-context n
		The tokens of context the KV cache holds (default 4096).
	-strategy name
		aggressive: every slot that fits, LRU, no prefetch.
		balanced (the default): every slot, LFU (decay 0.9), and a
		history prefetch of min(top-k, 4) experts where the slots hold
		at least 40% of the experts. Below that the prefetch's copies
		cost more than its hits save (on the H200, Qwen1.5-MoE decoded
		6% faster with it at 47% of the experts, 20-40% slower at 31%
		and 15%). Where the slots hold fewer experts than one token
		needs (MoE layers x top-k), LRU and LFU evict each expert just
		before its layer comes round again, so the cache is
		frequency_threshold instead (it keeps the experts with at least
		three quarters of an even share of the last 5 x experts
		accesses), and where an expert's copy takes 2 ms or more the
		schedule is hybrid (a miss runs on the CPU or is copied,
		whichever finishes first by the figures moec run measures at
		start). Mixtral-8x7B at 24 GiB decoded at 4.6 tok/s that way,
		2.4 under LRU.
		conservative: three quarters of the slots, leaving headroom, LFU
		(decay 0.95), history prefetch of min(top-k, 6).
		max: every slot, LFU (decay 0.9), lookahead prefetch of the
		next two layers, min(2 x top-k, 8) experts.
		A prefetch budget never exceeds the capacity.
	-json
		Print the arithmetic as one JSON object instead of the policy:
		"config", "model" ("type", "moe_layers", "experts", "top_k",
		"slots"), "gpu_bytes", "dtype" and "dtype_from" (-dtype,
		quantization_config or default), "linear_dtype", "context",
		"strategy", "expert_bytes", "other_bytes" and "other" (each
		part's "params", "dtype" and "bytes"), "kv_bytes",
		"reserve_bytes", "room_bytes", "fit", "capacity",
		"prefetch_budget" and "policy", the policy's text. With -o the
		policy also goes to the file.
	-o file
		Write the policy to file instead of standard output. The file
		is replaced only when the policy is complete.

Where a policy's schedule is not hybrid, its misses are copied to the GPU
and run there (gpu_only): whether a CPU runs an expert faster than the
copy takes depends on the host, so the policy's comments give the copy
time at 52.5 GB/s and say how to switch to hybrid scheduling with a
measured cpu_expert_ms.`,
	run: runAuto,
}

// autoStrategies are the strategies -strategy accepts, in help's order.
var autoStrategies = []string{"aggressive", "balanced", "conservative", "max"}

// autoPCIeGBps is the host-to-GPU bandwidth the comments assume: pinned
// copies on the H100's PCIe Gen5 x16 link (52-53 GB/s, DESIGN.md).
const autoPCIeGBps = 52.5

// autoOptions are the inputs of an automatic policy besides the model.
type autoOptions struct {
	config string // the config file's name, for the comments
	vram   int64
	dtype  model.Format // of the routed experts
	// linear is the format of the other linear layers' weights
	// (attention, shared experts, dense MLPs): the checkpoint's when
	// -dtype is not given, else 16 bits.
	linear    model.Format
	dtypeFrom string // where dtype comes from: "-dtype", "quantization_config" or "" (the default)
	context   int
	strategy  string
}

// useQuant takes the formats of the weights from m's
// quantization_config, unless -dtype gave the experts' format.
func (o *autoOptions) useQuant(m *model.Config) error {
	q := m.Quant
	if q == nil || o.dtypeFrom != "" {
		return nil
	}
	if !q.Known {
		return fmt.Errorf("%s: quant_method %q is not one moec knows (fp8, mxfp4): give the experts' format with -dtype", o.config, q.Method)
	}
	o.dtype, o.linear, o.dtypeFrom = q.Experts, q.Linear, "quantization_config"
	return nil
}

// autoPlan is the arithmetic behind an automatic policy.
type autoPlan struct {
	autoOptions
	model     *model.Config
	expert    int64        // bytes of one routed expert
	params    model.Params // the parameters that are not routed experts
	nonExpert int64        // their bytes
	kv        int64        // bytes of the KV cache
	reserve   int64
	room      int64 // bytes left for experts
	fit       int   // expert slots that fit in room
	capacity  int
	budget    int // prefetch budget; 0 without prefetch
	// admit: one token's experts outnumber the slots, so the balanced
	// strategy keeps only frequent experts (frequency_threshold); hybrid:
	// and runs the others where they finish first, for experts whose copy
	// takes autoHybridMS or more.
	admit, hybrid bool
}

// autoHybridMS is the least copy time of an expert, at autoPCIeGBps, for
// which the balanced strategy schedules misses on the CPU too. On the
// H200 each CPU expert of Qwen1.5-MoE (0.33 ms copies) cost a token about
// 0.6 ms more than its copy would have, beyond the 0.25 ms measured at
// start, and hybrid was slower; by that cost the CPU (about 90 GB/s of
// reads) beats the link (54 GB/s) from experts of about 80 MB, a 1.5 ms
// copy. Mixtral's 6.7 ms copies gained 1.5x.
const autoHybridMS = 2.0

// autoPrefetchShare is the least share of a model's experts the slots
// must hold for the balanced strategy to prefetch (docs/PERFORMANCE.md,
// "Engine under a policy").
const autoPrefetchShare = 0.4

// planAuto does the arithmetic; it fails when the model leaves no room
// for the experts one token needs in one layer, saying what would leave
// room, or when the KV cache of the context overflows.
func planAuto(m *model.Config, o autoOptions) (*autoPlan, error) {
	p, err := fitAuto(m, o)
	if err != nil {
		return nil, err
	}
	if p.fit < m.TopK {
		return nil, fmt.Errorf("%s: the model does not fit in %s: other weights %s + KV cache %s (%d tokens) + reserve %s leave %s, room for %d experts of %s; one token needs %d (top-%d) in each layer%s",
			o.config, formatBytes(o.vram), formatBytes(p.nonExpert), formatBytes(p.kv), o.context,
			formatBytes(p.reserve), formatBytes(max(p.room, 0)), p.fit, formatBytes(p.expert), m.TopK, m.TopK, p.whatFits())
	}
	p.capacity = min(p.fit, m.Slots())
	k := m.TopK
	switch o.strategy {
	case "balanced":
		switch {
		case p.capacity < m.Slots() && p.capacity < len(m.MoELayers)*k:
			p.admit = true
			p.hybrid = p.copyMS() >= autoHybridMS
		case float64(p.capacity) >= autoPrefetchShare*float64(m.Slots()):
			p.budget = min(k, 4)
		}
	case "conservative":
		p.capacity = max(k, p.capacity*3/4)
		p.budget = min(k, 6)
	case "max":
		p.budget = min(2*k, 8)
	}
	p.budget = min(p.budget, p.capacity)
	return p, nil
}

// fitAuto works out the bytes of each part and how many expert slots
// fit; it fails only when the KV cache of the context overflows.
func fitAuto(m *model.Config, o autoOptions) (*autoPlan, error) {
	p := &autoPlan{autoOptions: o, model: m}
	p.expert = o.dtype.Bytes(m.ExpertParams())
	p.params = m.NonExpertParams()
	for _, part := range p.parts() {
		p.nonExpert += part.bytes
	}
	kv, err := m.KVBytes(int64(o.context))
	if err != nil {
		return nil, fmt.Errorf("%s: -context: %v", o.config, err)
	}
	p.kv = kv
	p.reserve = engine.Workspace(o.vram) // what moec run -gpu-mem keeps back too
	// The room left, without overflow: vram is below 2^63 and the other
	// weights below 2^51 (model bounds a model's parameters), but the KV
	// cache of a long context may be near 2^63 on its own.
	p.room = o.vram - p.reserve - p.nonExpert
	if p.kv <= p.room {
		p.room -= p.kv
	} else {
		p.room = -1
	}
	if p.room > 0 {
		p.fit = int(min(p.room/p.expert, int64(rt.MaxCapacity)))
	}
	return p, nil
}

// An autoPart is one part of the weights that are not routed experts.
type autoPart struct {
	name   string
	params int64
	format model.Format
	bytes  int64
}

// parts returns the weights that are not routed experts, part by part:
// embedding, lm_head, norms and routers at 16 bits, the other linear
// layers in p.linear.
func (p *autoPlan) parts() []autoPart {
	ps := p.params
	parts := []autoPart{
		{"embedding", ps.Embedding, model.BF16, 0}, {"lm_head", ps.LMHead, model.BF16, 0},
		{"attention", ps.Attention, p.linear, 0}, {"norms", ps.Norms, model.BF16, 0},
		{"routers", ps.Routers, model.BF16, 0}, {"shared experts", ps.Shared, p.linear, 0},
		{"dense MLPs", ps.Dense, p.linear, 0},
	}
	for i := range parts {
		parts[i].bytes = parts[i].format.Bytes(parts[i].params)
	}
	return parts
}

// whatFits returns what would make room for the experts one token needs
// in a layer, for the error of a model that does not fit: a smaller
// format for the experts, a shorter context, a larger GPU. It starts with
// ". It would fit", or is "" when nothing would.
func (p *autoPlan) whatFits() string {
	m, k := p.model, int64(p.model.TopK)
	var ways []string
	for _, f := range []model.Format{model.FP8, model.Int4} {
		if f.Bits() >= p.dtype.Bits() {
			continue
		}
		o := p.autoOptions
		o.dtype = f
		if q, err := fitAuto(m, o); err == nil && q.fit >= m.TopK {
			if f == model.Int4 {
				ways = append(ways, "with a 4-bit -dtype (int4 or mxfp4)")
			} else {
				ways = append(ways, "with -dtype "+f.String())
			}
			break
		}
	}
	// The bytes of k experts are below 2^67 (2^51 bytes an expert, 2^16
	// experts): compare without multiplying.
	if left := p.vram - p.reserve - p.nonExpert; left > 0 && p.expert <= left/k {
		if tokens := (left - k*p.expert) / m.KVBytesPerToken(); tokens >= 1 && tokens < int64(p.context) {
			ways = append(ways, fmt.Sprintf("with -context %d or less", tokens))
		}
	}
	// The GPU that leaves room: need + its reserve, max(1 GiB, a tenth).
	need := float64(p.nonExpert) + float64(p.kv) + float64(k)*float64(p.expert)
	gpu := need + 1<<30
	if gpu > 10<<30 {
		gpu = need / 0.9
	}
	if gib := math.Ceil(gpu/(1<<30)*10) / 10; gib < 1<<20 { // less than a PiB
		ways = append(ways, fmt.Sprintf("on a GPU of %.1f GiB or more", gib))
	}
	switch len(ways) {
	case 0:
		return ""
	case 1:
		return ". It would fit " + ways[0]
	}
	return ". It would fit " + strings.Join(ways[:len(ways)-1], ", ") + ", or " + ways[len(ways)-1]
}

// policy returns the text of the policy, its arithmetic in comments.
func (p *autoPlan) policy() ([]byte, error) {
	m := p.model
	keep := []string{"cache.eviction", "cache.expert_size_gb"}
	cache := []policy.CacheOption{policy.ExpertSizeGB(float64(p.expert) / 1e9)}
	switch {
	case p.admit:
		threshold, window := rt.FrequencyFor(m.Slots())
		cache = append(cache, policy.Eviction(rt.FrequencyThreshold), policy.FreqThreshold(threshold), policy.FreqWindow(window))
		keep = append(keep, "cache.freq_threshold", "cache.freq_window")
	case p.strategy == "aggressive":
		cache = append(cache, policy.Eviction(rt.LRU))
	case p.strategy == "conservative":
		cache = append(cache, policy.Eviction(rt.LFU), policy.Decay(0.95))
		keep = append(keep, "cache.frequency_decay")
	default:
		cache = append(cache, policy.Eviction(rt.LFU), policy.Decay(0.9))
		keep = append(keep, "cache.frequency_decay")
	}
	comments := map[string][]string{
		"cache.expert_size_gb": {"One expert in GB (10^9 bytes), where a replay has no model size."},
	}
	switch {
	case p.capacity == m.Slots():
		comments["cache.capacity"] = []string{fmt.Sprintf("Every one of the model's %d (layer, expert) slots fits: nothing is evicted.", m.Slots())}
	case p.capacity < p.fit:
		comments["cache.capacity"] = []string{fmt.Sprintf("%d of the %d slots that fit (%s): a quarter is left as headroom.",
			p.capacity, min(p.fit, m.Slots()), formatBytes(int64(p.capacity)*p.expert))}
	default:
		comments["cache.capacity"] = []string{fmt.Sprintf("%d of the model's %d (layer, expert) slots, %s.",
			p.capacity, m.Slots(), formatBytes(int64(p.capacity)*p.expert))}
	}
	blocks := []policy.Option{policy.Cache(p.capacity, cache...)}
	switch {
	case p.strategy == "max":
		blocks = append(blocks, policy.Prefetch(rt.Lookahead, policy.Lookahead(2), policy.Budget(p.budget)))
		keep = append(keep, "prefetch.budget")
	case p.budget > 0:
		blocks = append(blocks, policy.Prefetch(rt.History, policy.Budget(p.budget)))
		keep = append(keep, "prefetch.budget")
	case p.capacity < rt.DefaultBudget:
		blocks = append(blocks, policy.Prefetch(rt.PrefetchNone, policy.Budget(p.capacity)))
		comments["prefetch.budget"] = []string{fmt.Sprintf("No prefetch; the default budget, %d, would exceed the capacity.", rt.DefaultBudget)}
	}
	if p.hybrid {
		blocks = append(blocks, policy.Schedule(rt.Hybrid))
		keep = append(keep, "schedule.mode")
		comments["schedule.mode"] = []string{"A miss runs on the CPU or is copied, whichever finishes first",
			"by the copy rate and CPU expert time moec run measures at start."}
	}
	spec, err := policy.New(m.Type+"_"+p.strategy, blocks...)
	if err != nil {
		return nil, fmt.Errorf("internal error: the policy moec auto made is invalid: %w", err)
	}
	return policy.Format(spec, &policy.FormatOptions{Header: p.header(), Keep: keep, Comments: comments})
}

// header returns the comment lines before the policy: the arithmetic.
func (p *autoPlan) header() []string {
	m := p.model
	var lines []string
	line := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }

	line("Written by moec auto from %s.", p.config)
	line("Model: %s, %d MoE layers of %d experts, top-%d.", m.Type, len(m.MoELayers), m.Experts, m.TopK)
	experts := p.dtype.String()
	if p.dtypeFrom == "quantization_config" {
		experts += " (its quantization_config)"
	}
	line("GPU: %s; experts in %s; %d tokens of context; strategy %s.", formatBytes(p.vram), experts, p.context, p.strategy)
	line("")
	if bits := p.dtype.Bits(); bits == 16 {
		line("One expert: 3 x %d x %d parameters x 2 bytes = %s.", m.Hidden, m.ExpertIntermediate, formatBytes(p.expert))
	} else {
		line("One expert: 3 x %d x %d parameters x %.4g bits (%s, scales included)", m.Hidden, m.ExpertIntermediate, bits, p.dtype)
		line("  = %s.", formatBytes(p.expert))
	}
	if p.linear.Bits() == 16 {
		line("Other weights, at 16 bits: %s parameters = %s:", commas(p.params.Total()), formatBytes(p.nonExpert))
	} else {
		line("Other weights: %s parameters = %s, the linear layers in %s,", commas(p.params.Total()), formatBytes(p.nonExpert), p.linear)
		line("  the rest at 16 bits:")
	}
	var parts []string
	for _, part := range p.parts() {
		if part.params > 0 {
			parts = append(parts, part.name+" "+formatBytes(part.bytes))
		}
	}
	for i := 0; i < len(parts); i += 4 {
		end := min(i+4, len(parts))
		sep := ","
		if end == len(parts) {
			sep = "."
		}
		line("  %s%s", strings.Join(parts[i:end], ", "), sep)
	}
	if a := m.MLA; a != nil {
		line("KV cache (MLA), at 16 bits: %d tokens x %d layers x (%d + %d) x 2 bytes", p.context, m.Layers, a.KVLoraRank, a.QKRope)
	} else {
		line("KV cache, at 16 bits: %d tokens x %d layers x 2 x %d heads x %d x 2 bytes", p.context, m.Layers, m.KVHeads, m.HeadDim)
	}
	line("  = %s.", formatBytes(p.kv))
	line("Reserve: %s, a tenth of the GPU and at least 1 GiB (CUDA context,", formatBytes(p.reserve))
	line("  activations, allocator slack).")
	line("Left for experts: %s - %s - %s - %s = %s,", formatBytes(p.vram), formatBytes(p.nonExpert), formatBytes(p.kv), formatBytes(p.reserve), formatBytes(p.room))
	line("  %d slots of %s.", p.fit, formatBytes(p.expert))
	switch {
	case p.admit:
		line("")
		line("One token needs %d (layer, expert) pairs, more than the %d slots: LRU or", len(m.MoELayers)*m.TopK, p.capacity)
		line("LFU would evict each expert just before its layer comes round again. The")
		line("cache keeps the experts with at least three quarters of an even share of")
		_, window := rt.FrequencyFor(m.Slots())
		others := "are"
		if p.hybrid {
			others = "run on"
		}
		line("the last %s accesses (%d a slot of the model's %s); the others %s", commas(int64(window)), rt.FreqAccessesPerSlot, commas(int64(m.Slots())), others)
		if p.hybrid {
			line("the CPU or are copied, whichever finishes first.")
		} else {
			line("copied for their layer only. Their copies, %.2f ms at %.1f GB/s, are too", p.copyMS(), autoPCIeGBps)
			line("short for a CPU expert's own costs: no hybrid schedule.")
		}
	case p.strategy == "balanced" && p.budget == 0 && p.capacity < m.Slots():
		line("")
		line("No prefetch: the slots hold under %.0f%% of the experts, where a history", 100*autoPrefetchShare)
		line("prefetch's copies cost more than its hits save.")
	}
	if p.capacity < m.Slots() && !p.admit {
		line("")
		line("A miss copies its expert to the GPU: %s at %.1f GB/s (pinned memory,", formatBytes(p.expert), autoPCIeGBps)
		line("PCIe Gen5 x16) takes %.2f ms. Where the CPU runs one expert faster, add", p.copyMS())
		line("schedule { mode = hybrid  pcie_gbps = %.1f  cpu_expert_ms = T }, T measured", autoPCIeGBps)
		line("on that host.")
	}
	return lines
}

// copyMS is the time one expert's copy takes at autoPCIeGBps.
func (p *autoPlan) copyMS() float64 { return float64(p.expert) / (autoPCIeGBps * 1e9) * 1e3 }

// commas writes n with thousands separators.
func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func runAuto(e *env, c *command, args []string) int {
	fs := e.flagSet(c)
	config := fs.String("config", "", "the model's config.json")
	vram := fs.String("vram", "", "the GPU's memory")
	dtype := fs.String("dtype", "", "the format of the expert weights")
	context := fs.Int("context", 4096, "tokens of context")
	strategy := fs.String("strategy", "balanced", "aggressive, balanced, conservative or max")
	outPath := fs.String("o", "", "output file")
	jsonOut := fs.Bool("json", false, "print the arithmetic as JSON")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() != 0 || *config == "" || *vram == "" {
		return e.usageError(c)
	}
	o := autoOptions{config: *config, context: *context, strategy: *strategy}
	var err error
	if o.vram, err = parseBytes(*vram); err != nil || o.vram == 0 {
		if err == nil {
			err = fmt.Errorf("invalid size %q: want more than 0 bytes", *vram)
		}
		fmt.Fprintf(e.stderr, "moec auto: -vram: %v\n", err)
		return e.usageError(c)
	}
	if *dtype != "" {
		if o.dtype, err = model.ParseFormat(*dtype); err != nil {
			fmt.Fprintf(e.stderr, "moec auto: -dtype: %v\n", err)
			return e.usageError(c)
		}
		o.dtypeFrom = "-dtype"
	}
	if o.context < 1 {
		fmt.Fprintf(e.stderr, "moec auto: -context %d: want at least 1 token\n", o.context)
		return e.usageError(c)
	}
	if !slices.Contains(autoStrategies, o.strategy) {
		fmt.Fprintf(e.stderr, "moec auto: unknown -strategy %q: want one of %s\n", o.strategy, strings.Join(autoStrategies, ", "))
		return e.usageError(c)
	}

	o.config = model.ConfigPath(*config)
	out, status := e.createOutput("-o", *outPath, o.config)
	if out == nil {
		return status
	}
	defer out.Abort()
	m, err := model.ReadConfig(o.config)
	if err != nil {
		e.errorf("%v", err)
		return exitError
	}
	if err := o.useQuant(m); err != nil {
		e.errorf("%v", err)
		return exitError
	}
	p, err := planAuto(m, o)
	if err != nil {
		e.errorf("%v", err)
		return exitError
	}
	text, err := p.policy()
	if err != nil {
		e.errorf("%v", err)
		return exitError
	}
	if !*jsonOut {
		return e.finish(out, text)
	}
	if *outPath != "" {
		if st := e.finish(out, text); st != exitOK {
			return st
		}
	}
	return e.printJSON(p.json(text))
}

// autoJSON is what "moec auto -json" prints.
type autoJSON struct {
	Config string `json:"config"`
	Model  struct {
		Type      string `json:"type"`
		MoELayers int    `json:"moe_layers"`
		Experts   int    `json:"experts"`
		TopK      int    `json:"top_k"`
		Slots     int    `json:"slots"`
	} `json:"model"`
	GPUBytes       int64          `json:"gpu_bytes"`
	Dtype          string         `json:"dtype"`
	DtypeFrom      string         `json:"dtype_from"`
	LinearDtype    string         `json:"linear_dtype"`
	Context        int            `json:"context"`
	Strategy       string         `json:"strategy"`
	ExpertBytes    int64          `json:"expert_bytes"`
	OtherBytes     int64          `json:"other_bytes"`
	Other          []autoPartJSON `json:"other"`
	KVBytes        int64          `json:"kv_bytes"`
	ReserveBytes   int64          `json:"reserve_bytes"`
	RoomBytes      int64          `json:"room_bytes"`
	Fit            int            `json:"fit"`
	Capacity       int            `json:"capacity"`
	PrefetchBudget int            `json:"prefetch_budget"`
	Policy         string         `json:"policy"`
}

type autoPartJSON struct {
	Part   string `json:"part"`
	Params int64  `json:"params"`
	Dtype  string `json:"dtype"`
	Bytes  int64  `json:"bytes"`
}

// json returns the plan as "moec auto -json" prints it, with the
// policy's text.
func (p *autoPlan) json(policy []byte) autoJSON {
	m := p.model
	j := autoJSON{
		Config: p.config, GPUBytes: p.vram, Dtype: p.dtype.String(), DtypeFrom: p.dtypeFrom,
		LinearDtype: p.linear.String(), Context: p.context, Strategy: p.strategy,
		ExpertBytes: p.expert, OtherBytes: p.nonExpert, KVBytes: p.kv, ReserveBytes: p.reserve,
		RoomBytes: p.room, Fit: p.fit, Capacity: p.capacity, PrefetchBudget: p.budget, Policy: string(policy),
	}
	if j.DtypeFrom == "" {
		j.DtypeFrom = "default"
	}
	j.Model.Type, j.Model.MoELayers, j.Model.Experts, j.Model.TopK, j.Model.Slots = m.Type, len(m.MoELayers), m.Experts, m.TopK, m.Slots()
	for _, part := range p.parts() {
		j.Other = append(j.Other, autoPartJSON{part.name, part.params, part.format.String(), part.bytes})
	}
	return j
}
