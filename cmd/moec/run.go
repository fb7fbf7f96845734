package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/moepolicy/moec/engine"
)

var runCommand = &command{
	name:      "run",
	usageLine: "-model dir [-device cpu|cuda] [-prompt-ids ids] [-n tokens] [-json] [-temperature t -top-p p -seed s] [-context n] [-kv bf16|f32]",
	short:     "generate tokens with a Hugging Face MoE checkpoint",
	long: `Run loads a Hugging Face Mixture-of-Experts checkpoint (a folder with
config.json and its safetensors files, sharded or not, in fp32, fp16 or
bf16), runs the prompt and generates tokens, then prints the generated
token ids on one line and a summary line: prefill and decode tokens per
second and the GPU memory the model holds.

	moec run -model dir [-device cpu|cuda] [-prompt-ids 9707,11,1879] [-n 64]

-device cpu runs engine/cpu, the pure-Go reference forward pass (fp32
arithmetic), in every build; -device cuda runs the CUDA path, all
weights resident on the GPU, in a moec built with -tags cuda
(docs/GPU.md). The families are Qwen2-MoE (Qwen1.5-MoE), OLMoE,
Qwen3-MoE and Mixtral; docs/ENGINE.md says what each computes.

Tokens are chosen greedily (the largest logit) unless -temperature is
given; then they are drawn from the softmax of the logits over the
temperature, restricted by -top-p to the smallest set of most probable
tokens whose probability reaches it, the same for the same -seed.

With -json, run prints one JSON object instead: {"prompt": [...],
"generated": [...], "prefill_tok_s": x, "decode_tok_s": y, "device":
"cpu"|"cuda", "gpu_memory_bytes": n, ...}.`,
	run: runRun,
}

func runRun(e *env, c *command, args []string) int {
	fs := e.flagSet(c)
	dir := fs.String("model", "", "the checkpoint `folder`")
	device := fs.String("device", "cpu", "cpu or cuda")
	ids := fs.String("prompt-ids", "1", "the prompt as comma-separated token `ids`")
	n := fs.Int("n", 64, "how many `tokens` to generate")
	asJSON := fs.Bool("json", false, "print one JSON object")
	temp := fs.Float64("temperature", 0, "sampling temperature; 0 is greedy")
	topP := fs.Float64("top-p", 1, "nucleus sampling's probability mass")
	seed := fs.Uint64("seed", 0, "the sampling seed")
	context := fs.Int("context", 0, "the most `tokens` a sequence holds (0: the prompt and -n)")
	kv := fs.String("kv", "bf16", "the CUDA path's key/value cache: bf16 or f32")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *dir == "" || fs.NArg() != 0 {
		return e.usageError(c)
	}
	prompt, err := parseIDs(*ids)
	if err != nil {
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
	ctx := *context
	if ctx == 0 {
		ctx = len(prompt) + *n
	}
	m, err := engine.Open(*dir, engine.Options{Device: *device, MaxContext: ctx, KVFloat32: *kv == "f32"})
	if err != nil {
		e.errorf("%v", err)
		return exitError
	}
	defer m.Close()
	r, err := m.Generate(prompt, *n, engine.Sampling{Temperature: *temp, TopP: *topP, Seed: *seed})
	if err != nil {
		e.errorf("%v", err)
		return exitError
	}
	if *asJSON {
		out := struct {
			Model       string  `json:"model"`
			Family      string  `json:"family"`
			Device      string  `json:"device"`
			Prompt      []int   `json:"prompt"`
			Generated   []int   `json:"generated"`
			PrefillTokS float64 `json:"prefill_tok_s"`
			DecodeTokS  float64 `json:"decode_tok_s"`
			PrefillMS   float64 `json:"prefill_ms"`
			DecodeMS    float64 `json:"decode_ms"`
			GPUMemory   int64   `json:"gpu_memory_bytes"`
		}{*dir, m.Config.Type, r.Device, r.Prompt, r.Generated, r.PrefillTokensPerSecond(), r.DecodeTokensPerSecond(),
			ms(r.Prefill), ms(r.Decode), r.DeviceMemory}
		b, _ := json.Marshal(out)
		b = append(b, '\n')
		if _, err := e.stdout.Write(b); err != nil {
			e.errorf("%v", err)
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
	fmt.Fprintf(&sb, "\nprefill %.1f tok/s (%d tokens), decode %.1f tok/s (%d tokens) on %s", r.PrefillTokensPerSecond(), len(r.Prompt),
		r.DecodeTokensPerSecond(), len(r.Generated), r.Device)
	if r.DeviceMemory > 0 {
		fmt.Fprintf(&sb, ", %s of GPU memory", formatBytes(r.DeviceMemory))
	}
	sb.WriteByte('\n')
	if _, err := fmt.Fprint(e.stdout, sb.String()); err != nil {
		e.errorf("%v", err)
		return exitError
	}
	return exitOK
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
