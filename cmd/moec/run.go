package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/moepolicy/moec/cudart"
	"github.com/moepolicy/moec/engine"
	"github.com/moepolicy/moec/model"
	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/replay"
	"github.com/moepolicy/moec/tokenizer"
)

var runCommand = &command{
	name:      "run",
	usageLine: "-model dir [-device cpu|cuda] [-policy policy.moe[:name]|auto [-gpu-mem size] [-record-trace file]] [-route-trace file] [-prompt text | -prompt-file file | -prompt-ids ids] [-tokenizer file] [-chat] [-ids] [-n tokens] [-json] [-temperature t -top-p p -seed s] [-context n] [-kv bf16|f32]",
	short:     "generate tokens with a Hugging Face MoE checkpoint",
	long: `Run loads a Hugging Face Mixture-of-Experts checkpoint (a folder with
config.json and its safetensors files, sharded or not, in fp32, fp16 or
bf16), runs the prompt and generates tokens, then prints the generated
token ids on one line and a summary line: prefill and decode tokens per
second and the GPU memory the model holds.

	moec run -model dir [-device cpu|cuda] [-prompt-ids 9707,11,1879] [-n 64]

-prompt text gives the prompt as text instead, and -prompt-file file
reads it from the file, or from standard input when the file is "-"
(every byte counts, a final newline too). The text is encoded with the
tokenizer.json in the checkpoint folder, as moec tokenize encodes it
(with the special tokens its post-processor adds, such as Mixtral's <s>
first); a folder without one is an error that names the path.
-tokenizer file takes the tokenizer.json (or its .gz) in file instead,
for a checkpoint folder without one. Then run writes the
generated text on standard output as the tokens are generated, only
whole UTF-8 characters (a character split between tokens waits for its
last byte), and a newline after it (with -device cuda and no
-temperature, the tokens are generated in one loop on the GPU, and the
text comes when it ends); the summary line goes to standard error, so
that standard output holds only the text. -ids prints the
generated ids and the summary as for -prompt-ids instead of the text.

-chat wraps the text prompt in the chat format of the model's family,
as its chat template writes one user message and the start of the
answer: ChatML for Qwen (Qwen1.5 and Qwen2 with their default system
turn, Qwen3 without), "<s>[INST] text [/INST]" for Mixtral; generation
stops at the end-of-turn token (<|im_end|>, </s>), which is not printed.
When the folder has a tokenizer_config.json with a chat_template, the
format is the one that template writes, recognised by its marks
(<|im_start|> for ChatML, [INST]) rather than run, so that a fine-tune
chatting in another format than its family's is prompted right; a
template of another format is an error. The wrapped text is encoded
without the post-processor's special tokens, since the format writes
its own. The prompt's text in -json is the wrapped one.

-device cpu runs engine/cpu, the pure-Go reference forward pass (fp32
arithmetic), in every build; -device cuda runs the CUDA path, all
weights resident on the GPU, in a moec built with -tags cuda
(docs/GPU.md). The families are Qwen2-MoE (Qwen1.5-MoE), OLMoE,
Qwen3-MoE, Mixtral and DeepSeek-V2; docs/ENGINE.md says what each
computes.

Tokens are chosen greedily (the largest logit) unless -temperature is
given; then they are drawn from the softmax of the logits over the
temperature, restricted by -top-p to the smallest set of most probable
tokens whose probability reaches it, the same for the same -seed.

-policy policy.moe places every routed expert by the policy (the file's
only policy, or the one :name names): each MoE layer's top-k experts
and router weights, rounded to 4 decimals as a trace records them, go to
the policy, whose plan a store executes, and each expert runs from where
the plan puts it. With -device cuda the experts stay in pinned host
memory and the store copies them into slots on the GPU (the checkpoint's
experts must be bf16); with -device cpu the store is in host memory
(experts copied between the arena and the slots). Either way the tokens
are those of the run without a policy while every expert runs on the
GPU. An expert the plan runs on the CPU runs from the pinned arena on
all cores, on the GPU while the GPU runs the layer's other experts. When
the policy's schedule can send misses to the CPU (hybrid), run with
-device cuda measures at start, on the checkpoint's experts, the
pinned copy bandwidth and the CPU time of one expert, and the policy
decides with them wherever it does not state pcie_gbps and
cpu_expert_ms itself (where it sets offload_threshold_ms to other than
50, it keeps the reference's rule, with the measured bandwidth); the
summary and -json give the measured figures.
The summary adds the policy's hit rate, as moec replay prints it,
the bytes the store moved on demand and ahead of need, on the GPU how
long it waited at the MoE layers (the host's share, and the transfers
the compute did not hide), and the hit rate of each MoE layer; -json
adds a "calibration" object for moec replay -calibration. -record-trace file writes
the routing the policy was given in moec's trace format ("moec help
trace"): moec replay of the same policy over it counts the same hits,
misses and copies.

-policy auto runs the policy moec auto writes (its balanced strategy)
for the model, the -gpu-mem cap and the context: it keeps as many
experts as the cap leaves room for.

-gpu-mem size (16GiB, 24GB; with -policy) caps the GPU memory: the
skeleton (every weight but the routed experts, in bf16), the key/value
cache of -context tokens and a workspace (a tenth of the cap, at least 1
GiB, as moec auto reserves; it also holds the top-k slots of experts
run without keeping) come first, and the policy's largest capacity
(adapt rules and per-layer budgets included), one expert as the
checkpoint stores it each, must fit in the rest, or run fails naming
the bytes. With -device cpu the host store is
sized the same way. The summary adds the numbers.

-route-trace file forces each MoE layer's top-k experts and weights from
a routing trace after the router ran (its time is spent all the same),
for benchmarks on random weights, with or without -policy. A model with
other than the trace's MoE layer count takes, at each of its MoE layers,
the traced layer nearest in depth with a fixed permutation of the
expert ids (docs/ENGINE.md); the trace's top_k must be the model's, and
its rows start over when they run out.

With -json, run prints one JSON object instead: {"prompt": [...],
"generated": [...], with a text prompt "prompt_text" and "text" (the
generated text), "prefill_tok_s": x, "decode_tok_s": y, "device":
"cpu"|"cuda", "gpu_memory_bytes": n, ...}, and under -policy "policy":
{"name", "hit_rate", "hits", "misses", "demand": {"copies", "bytes"},
"prefetch": {"copies", "bytes"}, "loads", "prefetches", "evictions",
"gpu", "cpu", "stats"} (stats as moec replay -json prints them), and
under -gpu-mem its "memory": {"gpu_bytes", "skeleton_bytes",
"kv_bytes", "workspace_bytes", "expert_bytes", "slots", "capacity",
"store_slots"}. Under -policy on the GPU, "calibration" holds what moec
replay -calibration takes from the run to predict such runs:
{"gpu_token_ms", "host_layer_ms", "copy_gbps", "expert_bytes",
"moe_layers", "tokens"} (docs/RUNTIME.md, "Calibrating replay from the
engine"); it is absent on the CPU, where the GPU never waits.`,
	run: runRun,
}

func runRun(e *env, c *command, args []string) int {
	fs := e.flagSet(c)
	dir := fs.String("model", "", "the checkpoint `folder`")
	device := fs.String("device", "cpu", "cpu or cuda")
	ids := fs.String("prompt-ids", "1", "the prompt as comma-separated token `ids`")
	promptText := fs.String("prompt", "", "the prompt as `text`, encoded with the checkpoint's tokenizer.json")
	tokFile := fs.String("tokenizer", "", "encode the text prompt with the tokenizer.json in `file` instead of the checkpoint's")
	promptFile := fs.String("prompt-file", "", "read the prompt text from `file` (- for standard input)")
	printIDs := fs.Bool("ids", false, "with a text prompt, print the generated ids instead of their text")
	chat := fs.Bool("chat", false, "wrap the text prompt in the model's chat format and stop at its end of turn")
	n := fs.Int("n", 64, "how many `tokens` to generate")
	asJSON := fs.Bool("json", false, "print one JSON object")
	temp := fs.Float64("temperature", 0, "sampling temperature; 0 is greedy")
	topP := fs.Float64("top-p", 1, "nucleus sampling's probability mass")
	seed := fs.Uint64("seed", 0, "the sampling seed")
	context := fs.Int("context", 0, "the most `tokens` a sequence holds (0: the prompt and -n)")
	kv := fs.String("kv", "bf16", "the CUDA path's key/value cache: bf16 or f32")
	policyArg := fs.String("policy", "", "place the experts by the policy in `file[:name]`, or auto (moec auto's for -gpu-mem)")
	record := fs.String("record-trace", "", "write the routing the policy was given to `file`")
	routeTrace := fs.String("route-trace", "", "force the routing from the trace `file`")
	gpuMem := fs.String("gpu-mem", "", "cap the GPU memory of a -policy run at `size` (16GiB)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *dir == "" || fs.NArg() != 0 {
		return e.usageError(c)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["prompt"] && set["prompt-file"] || (set["prompt"] || set["prompt-file"]) && set["prompt-ids"] {
		e.errorf("give the prompt once: -prompt, -prompt-file or -prompt-ids")
		return exitUsage
	}
	if set["tokenizer"] && !set["prompt"] && !set["prompt-file"] {
		e.errorf("-tokenizer encodes a text prompt: give -prompt or -prompt-file")
		return exitUsage
	}
	if *chat && !set["prompt"] && !set["prompt-file"] {
		e.errorf("-chat wraps a text prompt: give -prompt or -prompt-file")
		return exitUsage
	}
	var tk *tokenizer.Tokenizer
	endOfTurn := -1  // the id that ends a -chat answer
	var text *string // the prompt's text; nil for -prompt-ids
	var prompt []int
	var err error
	if set["prompt"] || set["prompt-file"] {
		if *tokFile != "" {
			tk, err = loadTokenizer(*tokFile)
		} else {
			tk, err = checkpointTokenizer(*dir)
		}
		if err != nil {
			e.errorf("%v", err)
			return exitError
		}
		s := *promptText
		if set["prompt-file"] {
			b, err := e.readInput(*promptFile)
			if err != nil {
				e.errorf("%v", err)
				return exitError
			}
			s = string(b)
		}
		if *chat {
			if s, endOfTurn, err = chatPrompt(*dir, tk, s); err != nil {
				e.errorf("-chat: %v", err)
				return exitError
			}
		}
		// A chat format writes its own special tokens (Mixtral's <s>), as
		// a chat template does, so the tokenizer's post-processor adds
		// none; a plain prompt gets them, as Hugging Face's encode gives.
		text, prompt = &s, tk.Encode(s)
		if *chat {
			prompt = tk.EncodePlain(s)
		}
	} else if prompt, err = parseIDs(*ids); err != nil {
		e.errorf("-prompt-ids: %v", err)
		return exitUsage
	}
	if *n < 1 {
		e.errorf("-n %d: generate at least one token", *n)
		return exitUsage
	}
	if *kv != "bf16" && *kv != "f32" {
		e.errorf("-kv %q: the key/value cache is bf16 or f32", *kv)
		return exitUsage
	}
	if *record != "" && *policyArg == "" {
		e.errorf("-record-trace records the routing a policy is given: give -policy")
		return exitUsage
	}
	var capBytes int64
	if *gpuMem != "" {
		if *policyArg == "" {
			e.errorf("-gpu-mem sizes the store of a policy: give -policy")
			return exitUsage
		}
		if capBytes, err = parseBytes(*gpuMem); err != nil {
			e.errorf("-gpu-mem: %v", err)
			return exitUsage
		}
	}
	ctx := *context
	if ctx == 0 {
		ctx = len(prompt) + *n
	}
	o := engine.Options{Device: *device, MaxContext: ctx, KVFloat32: *kv == "f32", RecordRouting: *record != "", RouteTrace: *routeTrace, GPUMem: capBytes}
	if *policyArg == "auto" && capBytes == 0 {
		e.errorf("-policy auto is the policy moec auto writes for a GPU: give its memory with -gpu-mem")
		return exitUsage
	}
	if *policyArg != "" {
		if status := e.setPolicy(&o, *dir, *policyArg); status != exitOK {
			return status
		}
	}
	var trace *output
	if *record != "" {
		// Opened before the model, so a bad path fails at once.
		var status int
		if trace, status = e.createOutput("-record-trace", *record, policyFile(*policyArg)); trace == nil {
			return status
		}
		defer trace.Abort()
	}
	m, err := engine.Open(*dir, o)
	if err != nil {
		e.errorf("%v", err)
		return exitError
	}
	defer m.Close()
	// A text prompt streams its answer unless the ids or JSON are asked for.
	stream := text != nil && !*printIDs && !*asJSON
	var dec *tokenizer.StreamDecoder
	if stream {
		dec = tk.NewStreamDecoder()
	}
	var onToken func(int) error
	streamed := false // whether some text was written
	if stream || endOfTurn >= 0 {
		onToken = func(id int) error {
			if id == endOfTurn {
				return engine.ErrStop
			}
			if dec == nil {
				return nil
			}
			s, err := dec.Next(id)
			if err == nil && s != "" {
				streamed = true
				_, err = io.WriteString(e.stdout, s)
			}
			return err
		}
	}
	r, err := m.GenerateFunc(prompt, *n, engine.Sampling{Temperature: *temp, TopP: *topP, Seed: *seed}, onToken)
	if stream && (err == nil || streamed) { // end the line begun, if any
		if _, werr := io.WriteString(e.stdout, dec.Flush()+"\n"); err == nil {
			err = werr
		}
	}
	if err != nil {
		e.errorf("%v", err)
		return exitError
	}
	if trace != nil {
		err := m.WriteTrace(trace)
		if err == nil {
			err = trace.Commit()
		}
		if err != nil {
			e.errorf("%v", err)
			return exitError
		}
	}
	if *asJSON {
		var answer *string
		if text != nil {
			s, err := tk.Decode(answerIDs(r.Generated, endOfTurn))
			if err != nil {
				e.errorf("%v", err)
				return exitError
			}
			answer = &s
		}
		out := struct {
			Model       string              `json:"model"`
			Family      string              `json:"family"`
			Device      string              `json:"device"`
			Prompt      []int               `json:"prompt"`
			Generated   []int               `json:"generated"`
			PromptText  *string             `json:"prompt_text,omitempty"`
			Text        *string             `json:"text,omitempty"`
			PrefillTokS float64             `json:"prefill_tok_s"`
			DecodeTokS  float64             `json:"decode_tok_s"`
			PrefillMS   float64             `json:"prefill_ms"`
			DecodeMS    float64             `json:"decode_ms"`
			GPUMemory   int64               `json:"gpu_memory_bytes"`
			Policy      *policyReport       `json:"policy,omitempty"`
			Calibration *replay.Calibration `json:"calibration,omitempty"`
		}{*dir, m.Config.Type, r.Device, r.Prompt, r.Generated, text, answer, r.PrefillTokensPerSecond(), r.DecodeTokensPerSecond(),
			ms(r.Prefill), ms(r.Decode), r.DeviceMemory, newPolicyReport(r.Policy), r.Calibration()}
		b, _ := json.Marshal(out)
		b = append(b, '\n')
		if _, err := e.stdout.Write(b); err != nil {
			e.errorf("%v", err)
			return exitError
		}
		return exitOK
	}
	if stream {
		if !e.writeAll(e.stderr, []byte(summary(r))) {
			return exitError
		}
		return exitOK
	}
	var sb strings.Builder
	for i, id := range r.Generated {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(strconv.Itoa(id))
	}
	sb.WriteByte('\n')
	sb.WriteString(summary(r))
	if _, err := fmt.Fprint(e.stdout, sb.String()); err != nil {
		e.errorf("%v", err)
		return exitError
	}
	return exitOK
}

// summary is run's summary line, with its newline: the speeds, the GPU
// memory, and what a policy did.
func summary(r *engine.Result) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "prefill %.1f tok/s (%d tokens), decode %.1f tok/s (%d tokens) on %s", r.PrefillTokensPerSecond(), len(r.Prompt),
		r.DecodeTokensPerSecond(), len(r.Generated), r.Device)
	if r.DeviceMemory > 0 {
		fmt.Fprintf(&sb, ", %s of GPU memory", formatBytes(r.DeviceMemory))
	}
	if p := r.Policy; p != nil {
		fmt.Fprintf(&sb, "; policy %s: hit rate %.4f (%d hits, %d misses), moved %s on demand (%d copies) and %s ahead (%d copies)",
			p.Name, p.Plans.HitRate(), p.Plans.Hits, p.Plans.Misses, formatBytes(p.Store.Demand.Bytes), p.Store.Demand.Copies,
			formatBytes(p.Store.Prefetch.Bytes), p.Store.Prefetch.Copies)
		if p.Stall > 0 {
			fmt.Fprintf(&sb, "; the GPU waited %.1f ms at the MoE layers (host %.1f ms, transfers not hidden %.1f ms)",
				ms(p.Stall), ms(p.Host), ms(p.Exposed()))
		}
		if h := p.Hardware; h != (rt.Hardware{}) {
			fmt.Fprintf(&sb, "; calibrated with %.1f GB/s pinned copies and %.3f ms a CPU expert", h.PCIeGBps, h.CPUExpertMS)
		}
		if mp := p.Memory; mp != nil {
			fmt.Fprintf(&sb, "; GPU memory %s: skeleton %s, KV cache %s, workspace %s, capacity %d of %d slots of %s",
				formatBytes(mp.GPUMem), formatBytes(mp.Skeleton), formatBytes(mp.KV), formatBytes(mp.Workspace),
				mp.Capacity, mp.Slots, formatBytes(mp.ExpertBytes))
		}
		sb.WriteString("; hit rate by MoE layer:")
		for _, l := range p.Layers {
			fmt.Fprintf(&sb, " %.2f", l.HitRate())
		}
	}
	sb.WriteByte('\n')
	return sb.String()
}

// chatPrompt wraps prompt in the chat format of the checkpoint in dir and
// returns it with the id of the end-of-turn token in tk.
func chatPrompt(dir string, tk *tokenizer.Tokenizer, prompt string) (string, int, error) {
	cfg, err := model.ReadConfig(model.ConfigPath(dir))
	if err != nil {
		return "", 0, err
	}
	// The checkpoint's chat template, when it has one, says the format (a
	// fine-tune may chat in another than its family's); else the family.
	ch, ok := cfg.Chat()
	name := filepath.Join(dir, model.TokenizerConfigName)
	template, found, err := model.ReadChatTemplate(name)
	if err != nil {
		return "", 0, err
	}
	if found {
		if ch, ok = model.TemplateChat(template); !ok {
			return "", 0, fmt.Errorf("%s: moec does not know the chat format of its chat_template (it knows ChatML and [INST])", name)
		}
	}
	if !ok {
		return "", 0, fmt.Errorf("moec knows no chat format for %s models", cfg.Family())
	}
	id, ok := tk.TokenID(ch.EndOfTurn)
	if !ok {
		return "", 0, fmt.Errorf("%s: no %q token, the end of a turn in %s", filepath.Join(dir, "tokenizer.json"), ch.EndOfTurn, ch.Name)
	}
	return ch.Wrap(prompt), id, nil
}

// answerIDs returns generated without a final end-of-turn token.
func answerIDs(generated []int, endOfTurn int) []int {
	if n := len(generated); n > 0 && generated[n-1] == endOfTurn {
		return generated[:n-1]
	}
	return generated
}

// checkpointTokenizer loads the tokenizer.json of the checkpoint in dir.
func checkpointTokenizer(dir string) (*tokenizer.Tokenizer, error) {
	name := filepath.Join(dir, "tokenizer.json")
	if _, err := os.Stat(name); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: no tokenizer in the checkpoint folder to encode a text prompt; give -prompt-ids", name)
	}
	return loadTokenizer(name)
}

// parseIDs reads comma-separated token ids.
func parseIDs(s string) ([]int, error) {
	var ids []int
	for i, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 0 {
			return nil, fmt.Errorf("id %d, %q, is not a token id", i+1, f)
		}
		ids = append(ids, v)
	}
	return ids, nil
}

// setPolicy sets o's policy and store from the argument of -policy,
// file[:name] or auto, for the checkpoint in dir. On failure it reports
// and returns the exit status.
func (e *env) setPolicy(o *engine.Options, dir, arg string) int {
	file, name := splitPolicy(arg)
	var spec *rt.Spec
	status := exitOK
	if arg == "auto" {
		file = "auto"
		spec, status = e.autoPolicy(dir, o.GPUMem, o.MaxContext)
	} else {
		spec, status = e.loadPolicy(file, name)
	}
	if spec == nil {
		return status
	}
	shape, err := engine.ExpertShape(dir)
	if err != nil {
		e.errorf("%v", err)
		return exitError
	}
	if o.Policy, err = rt.New(spec, shape); err != nil {
		e.errorf("%s: %v", file, err)
		return exitError
	}
	o.Store = cudart.OptionsFor(spec, shape)
	return exitOK
}

// autoPolicy returns the policy moec auto writes (its default strategy)
// for the checkpoint in dir on a GPU of gpuMem bytes with a context of
// context tokens. On failure it reports and returns the exit status.
func (e *env) autoPolicy(dir string, gpuMem int64, context int) (*rt.Spec, int) {
	o := autoOptions{config: model.ConfigPath(dir), vram: gpuMem, context: context, strategy: "balanced"}
	m, err := model.ReadConfig(o.config)
	if err == nil {
		err = o.useQuant(m)
	}
	var p *autoPlan
	if err == nil {
		p, err = planAuto(m, o)
	}
	var text []byte
	if err == nil {
		text, err = p.policy()
	}
	if err != nil {
		e.errorf("-policy auto: %v", err)
		return nil, exitError
	}
	specs, diags := checkSource("auto", text)
	if len(diags) > 0 {
		e.errorf("internal error: the policy moec auto made is invalid: %v", diags[0])
		return nil, exitError
	}
	return specs[0], exitOK
}

// splitPolicy splits -policy's FILE[:NAME]: a name follows the last
// colon, unless the whole argument names a file.
func splitPolicy(arg string) (file, name string) {
	if i := strings.LastIndexByte(arg, ':'); i > 0 {
		if _, err := os.Stat(arg); err != nil {
			return arg[:i], arg[i+1:]
		}
	}
	return arg, ""
}

// policyFile is the file of -policy's FILE[:NAME], "" without one.
func policyFile(arg string) string {
	file, _ := splitPolicy(arg)
	return file
}

// policyReport is -json's "policy".
type policyReport struct {
	Name     string    `json:"name"`
	HitRate  float64   `json:"hit_rate"`
	Hits     int64     `json:"hits"`
	Misses   int64     `json:"misses"`
	Demand   transfers `json:"demand"`
	Prefetch transfers `json:"prefetch"`
	// The plans' entries, as moec replay -json counts them.
	Loads      int64         `json:"loads"`
	Prefetches int64         `json:"prefetches"`
	Evictions  int64         `json:"evictions"`
	GPU        int64         `json:"gpu"`
	CPU        int64         `json:"cpu"`
	Stats      rt.Stats      `json:"stats"`
	Memory     *memoryReport `json:"memory,omitempty"`
	// On the GPU: how long the compute stood still between the MoE
	// layers' routers and their experts, the host's share, and the rest:
	// the transfer time the compute did not hide.
	StallMS   float64 `json:"stall_ms"`
	HostMS    float64 `json:"host_ms"`
	ExposedMS float64 `json:"exposed_transfer_ms"`
	// The figures the policy was calibrated with, which its schedule
	// decides with where the policy leaves them (rt.ScheduleSpec.Calibrated;
	// engine.PolicyResult.Hardware); absent when it took none.
	Hardware *rt.Hardware `json:"hardware,omitempty"`
	// By MoE layer.
	Layers []layerReport `json:"layers"`
}

// layerReport is one MoE layer's share of -json's "policy".
type layerReport struct {
	Hits    int64   `json:"hits"`
	Misses  int64   `json:"misses"`
	HitRate float64 `json:"hit_rate"`
	StallMS float64 `json:"stall_ms"`
}

// memoryReport is -json's "policy"."memory", how -gpu-mem was spent.
type memoryReport struct {
	GPU        int64 `json:"gpu_bytes"`
	Skeleton   int64 `json:"skeleton_bytes"`
	KV         int64 `json:"kv_bytes"`
	Workspace  int64 `json:"workspace_bytes"`
	Expert     int64 `json:"expert_bytes"`
	Slots      int   `json:"slots"`
	Capacity   int   `json:"capacity"`
	StoreSlots int   `json:"store_slots"`
}

type transfers struct {
	Copies int64 `json:"copies"`
	Bytes  int64 `json:"bytes"`
}

func newPolicyReport(p *engine.PolicyResult) *policyReport {
	if p == nil {
		return nil
	}
	c := p.Plans
	var mem *memoryReport
	if m := p.Memory; m != nil {
		mem = &memoryReport{m.GPUMem, m.Skeleton, m.KV, m.Workspace, m.ExpertBytes, m.Slots, m.Capacity, m.StoreSlots}
	}
	layers := make([]layerReport, len(p.Layers))
	for i, l := range p.Layers {
		layers[i] = layerReport{l.Hits, l.Misses, l.HitRate(), ms(l.Stall)}
	}
	var hw *rt.Hardware
	if h := p.Hardware; h != (rt.Hardware{}) {
		hw = &h
	}
	return &policyReport{Memory: mem, Hardware: hw, Name: p.Name, HitRate: c.HitRate(), Hits: c.Hits, Misses: c.Misses,
		Demand:   transfers{p.Store.Demand.Copies, p.Store.Demand.Bytes},
		Prefetch: transfers{p.Store.Prefetch.Copies, p.Store.Prefetch.Bytes},
		Loads:    c.Loads, Prefetches: c.Prefetches, Evictions: c.Evictions, GPU: c.GPU, CPU: c.CPU, Stats: p.Stats,
		StallMS: ms(p.Stall), HostMS: ms(p.Host), ExposedMS: ms(p.Exposed()), Layers: layers}
}
