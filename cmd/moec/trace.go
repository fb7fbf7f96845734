package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/moepolicy/moec/internal/chart"
	"github.com/moepolicy/moec/rt/trace"
)

var traceCommand = &command{
	name:      "trace",
	usageLine: "gen|convert|stats [arguments]",
	short:     "generate, convert and measure routing traces",
	long: `Trace works with routing traces: the JSONL files that record which
experts a model's router selected, layer by layer, token by token, and
that moec replay runs policies over. A trace is a header line

	{"model_name": "...", "num_layers": 24, "num_experts": 60, "top_k": 4, "num_entries": 104568}

then one line per layer per token, replayed in file order:

	{"t":0,"l":0,"e":[33,16,24,27],"s":[0.1327,0.078,0.0689,0.0488]}

(t: token, l: layer, e: the selected experts in top-k order, s: their
router weights, or null). docs/TRACES.md describes the format in full.`,
	subcommands: []*command{traceGenCommand, traceConvertCommand, traceStatsCommand},
	run:         runTrace,
}

var traceGenCommand = &command{
	name:      "trace gen",
	usageLine: "-preset name [-tokens n] [-seed n] [-o file]",
	short:     "write a synthetic trace of a known model's shape",
	long: `Gen writes a synthetic trace of a model's shape, with the popularity
skew, temporal reuse and layer-to-layer affinity calibrated on real
routing: presets mixtral-8x7b, qwen1.5-moe-a2.7b, deepseek-v2-lite and
olmoe-1b-7b. The same seed gives the same trace.

Without -o, gen writes the trace on standard output; with it, the file is
replaced only once the trace is complete.`,
	run: (*env).traceGen,
}

var traceConvertCommand = &command{
	name:      "trace convert",
	usageLine: "[-o file] layer.jsonl...",
	short:     "turn vLLM routing logs into a trace",
	long: `Convert turns vLLM-style routing logs, one file per MoE layer (a
{"type":"meta",...} line, then {"type":"route","req_id","token_idx",
"layer","topk_ids","topk_weights"} lines, aligned by position across the
files), into a trace, skipping the leading profiling pass. Nothing is
written unless every file is valid.

Without -o, convert writes the trace on standard output; with it, the
file is replaced only once the trace is complete.`,
	run: (*env).traceConvert,
}

var traceStatsCommand = &command{
	name:      "trace stats",
	usageLine: "[-plot file] [-json] file",
	short:     "measure a trace: popularity, reuse, affinity",
	long: `Stats prints, per layer, how skewed expert popularity is, the reuse
distance between two uses of an expert, the LRU hit rate a cache of a
given size would get, and how strongly one layer's experts predict the
next layer's. With -plot it also draws expert popularity as a heatmap,
experts across and layers down, as an SVG or PNG picture by the file's
extension; beyond 256 experts or 128 layers, a cell sums several. The
file "-" is standard input.

With -json it prints the statistics as one JSON object instead of the
tables: the trace's "model", "layers", "experts", "top_k", "rows" and
"accesses"; "lru_capacities", the cache sizes of every "lru_hit_rate"
list; "per_layer" (each with "entropy_bits", "max_entropy_bits",
"top10_share", "gini", "reuse_distance" and "stack_distance" as "n",
"p50", "p90" and "p99", "cold" and "lru_hit_rate"; null for a layer
without accesses); "overall"; "affinity", one per pair of consecutive
layers; and "scores", the mean router weights by rank.`,
	run: (*env).traceStats,
}

func runTrace(e *env, c *command, args []string) int {
	if len(args) == 0 {
		return e.usageError(c)
	}
	if sub := find(c.name+" "+args[0], c.subcommands); sub != nil {
		return sub.run(e, sub, args[1:])
	}
	if strings.HasPrefix(args[0], "-") {
		return e.usageError(c)
	}
	hint := didYouMean(args[0], c.subcommands)
	if hint == "" {
		hint = " (want gen, convert or stats)"
	}
	fmt.Fprintf(e.stderr, "moec trace: unknown subcommand %q%s\n", args[0], hint)
	return e.usageError(c)
}

func (e *env) traceGen(c *command, args []string) int {
	fs := e.flagSet(c)
	preset := fs.String("preset", "", "model preset: "+strings.Join(trace.PresetNames(), ", "))
	tokens := fs.Int("tokens", 2000, "tokens to generate")
	seed := fs.Uint64("seed", 1, "random seed")
	out := fs.String("o", "", "output file")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *preset == "" || fs.NArg() != 0 {
		return e.usageError(c)
	}
	cfg, err := trace.Preset(*preset)
	if err != nil {
		e.errorf("%v", err)
		return exitUsage
	}
	cfg.Tokens, cfg.Seed = *tokens, *seed
	if err := cfg.Validate(); err != nil {
		e.errorf("%v", err)
		return exitUsage
	}
	w, status := e.createOutput("-o", *out)
	if w == nil {
		return status
	}
	defer w.Abort()
	tw, err := trace.NewWriter(w, cfg.Header())
	if err == nil {
		err = trace.Generate(cfg, tw.Write)
	}
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		e.errorf("%v", err)
		return exitError
	}
	return e.finish(w, nil)
}

func (e *env) traceConvert(c *command, args []string) int {
	fs := e.flagSet(c)
	out := fs.String("o", "", "output file")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() == 0 {
		return e.usageError(c)
	}
	w, status := e.createOutput("-o", *out, fs.Args()...)
	if w == nil {
		return status
	}
	defer w.Abort()
	var logs []io.ReadSeeker
	for _, name := range fs.Args() {
		data, err := os.ReadFile(name)
		if err != nil {
			e.errorf("%v", err)
			return exitError
		}
		logs = append(logs, bytes.NewReader(data))
	}
	if _, err := trace.Convert(w, logs, fs.Args()); err != nil {
		e.errorf("%v", err)
		return exitError
	}
	return e.finish(w, nil)
}

func (e *env) traceStats(c *command, args []string) int {
	fs := e.flagSet(c)
	plotPath := fs.String("plot", "", "draw expert popularity to this .svg or .png file")
	jsonOut := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() != 1 {
		return e.usageError(c)
	}
	var (
		plot   *output
		format string
	)
	if *plotPath != "" {
		var err error
		if format, err = chart.Format(*plotPath); err != nil {
			fmt.Fprintf(e.stderr, "moec trace stats: -plot %v\n", err)
			return exitUsage
		}
		var status int
		if plot, status = e.createOutput("-plot", *plotPath, fs.Arg(0)); plot == nil {
			return status
		}
		defer plot.Abort()
	}
	f, err := e.openInput(fs.Arg(0))
	if err != nil {
		e.errorf("%v", err)
		return exitError
	}
	defer f.Close()
	r, err := trace.NewReader(f, inputName(fs.Arg(0)))
	if err != nil {
		e.errorf("%v", err)
		return exitError
	}
	s, err := trace.ReadStats(r)
	if err != nil {
		e.errorf("%v", err)
		return exitError
	}
	if *plotPath != "" {
		title := "Expert popularity per layer: " + s.Header.Model
		data, err := chart.Heatmap(format, title, s.Popularity)
		if err != nil {
			e.errorf("%v", err)
			return exitError
		}
		if status := e.finish(plot, data); status != exitOK {
			return status
		}
	}
	if *jsonOut {
		return e.printJSON(newStatsJSON(inputName(fs.Arg(0)), s))
	}
	if err := s.Write(e.stdout); err != nil {
		e.errorf("%v", err)
		return exitError
	}
	return exitOK
}
