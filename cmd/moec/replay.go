package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/moepolicy/moec"
	"github.com/moepolicy/moec/internal/progress"
	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/replay"
	"github.com/moepolicy/moec/rt/trace"
)

var replayCommand = &command{
	name:      "replay",
	usageLine: "[-trace file | -synthetic preset [-tokens n] [-seed n]] [-policy name] [-expert-bytes size] [-json] [-decisions file] [-opt] " + hardwareUsage + " [-calibration run.json] [-gpu-token d] [-host-layer d] [policy.moe]",
	short:     "replay routing through a policy and measure it",
	long: `Replay runs a policy over a routing trace, the way it would run beside a
model: one dispatch per MoE layer per token, in trace order. Every plan
the policy makes is executed on a simulated mechanism that holds the
experts' slots and rejects a plan that could not be carried out (more
experts than slots, evicting what is not resident, a pinned expert
evicted); that is reported as a bug in the policy and replay exits with
status 1.

It prints the hit rate, overall and per layer, what moved (demand and
prefetch copies, their bytes, evictions), where experts ran, the prefetch
accuracy, and the modeled time per token: demand copies x (expert bytes /
bandwidth + copy latency) + CPU experts x CPU time, less the CPU time
that runs beside the layer's demand copies (the engine runs them at
once), + the prefetch copy time that the layer's GPU compute does not
hide, over the tokens. A hybrid schedule decides with the bandwidth and
CPU time below, as moec run's policy decides with the figures it
measures, unless the policy states pcie_gbps and cpu_expert_ms (a policy
that sets offload_threshold_ms to other than 50 keeps the reference's
rule, with the bandwidth below). The
hardware figures default to those measured on an H100 (PCIe Gen5 x16);
the table says which it used.

The policy file must hold one policy, or -policy must name one; "-"
reads it from standard input. Given neither a policy nor a trace, replay
runs the example that moec carries inside it, as README.md shows it: the
reference's composed example policy (examples/composed_policy.moe) over
real routing of Qwen1.5-MoE (testdata/traces/qwen15moe-gsm8k-5layer.jsonl,
5 MoE layers, 4,357 tokens of GSM8K), so "moec replay -opt" works
anywhere, without a clone.

The flags are:

	-trace file
		The routing trace, in moec's JSONL trace format ("moec help
		trace"). The shape of the model comes from its header.
	-synthetic preset
		Replay a synthetic trace of the named preset instead: one of
		mixtral-8x7b, qwen1.5-moe-a2.7b, deepseek-v2-lite, olmoe-1b-7b.
	-tokens n, -seed n
		The length and seed of a synthetic trace. It is generated
		as it is replayed, so its length does not cost memory.
	-policy name
		The policy to replay, when the file has several.
	-expert-bytes size
		The bytes of one expert, a number with a unit in any case:
		B, kB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB
		(powers of 1024), as in 17.3MB or 16.5MiB. Without it, the
		size of the trace's model if moec knows it, else the
		policy's expert_size_gb.
	-json
		Print the results as one JSON object instead of a table:
		"policy", "trace", "shape", the policy's statistics (sections
		"steps", "cache", "prefetch", "scheduler", "triggers", "adapt",
		"monitor", "transfer", "layers"), "replay" with the replay's
		own counts, "cost_model" with the hardware figures the modeled
		time used, "modeled_ms_per_token" and, with -opt, "opt" with
		Belady's hit rate. Two counts of evictions differ by definition:
		cache.evictions counts as the reference does (an expert the
		frequency-threshold cache never held, a prefetch evicted
		within its own dispatch), replay.slots_released counts the GPU
		slots the plans released (Plan.Evict, a miss not kept included).
	-decisions file
		Write every plan to file, one JSON line per dispatch in trace
		order: {"l":L,"hit":[...],"dev":["gpu"|"cpu",...],"load":[[l,e],...],
		"prefetch":[[l,e],...],"evict":[[l,e],...]}. The file is written
		only when the replay succeeds.
	-opt
		Also compute Belady's optimum for the same slots: the hit rate of
		a cache that always evicts the expert used furthest in the future.
		It needs the whole future, so it holds every expert access in
		memory, 12 bytes each, at most 2^31-2 of them.
` + hardwareHelp + `
	-calibration run.json
		Price the run too, with the figures moec run -json measured
		on the GPU under a policy (its "calibration" object): its
		gpu_token_ms fills -gpu-token, its host_layer_ms fills
		-host-layer, and demand copies are priced at its copy_gbps
		with no fixed cost a copy (the rate includes it), instead of
		the policy's pcie_gbps and the default. A flag given
		explicitly wins over the file: -gpu-token, -host-layer,
		-pcie-gbps (then copies are priced as without -calibration),
		-copy-latency, -gpu-expert. Prefetch copies hide behind the
		run's GPU time of a token spread over its MoE layers'
		selected experts (gpu_token_ms / (MoE layers x top-k)),
		which replaces -gpu-expert's default. Where the object has
		pcie_gbps and cpu_expert_ms (the figures the run calibrated
		its policy with), the policy decides with them, and CPU
		experts are priced at its cpu_expert_ms unless the policy,
		-cpu-expert or -cpu-gbps state one. The run must be of the
		trace's model: the same MoE layers and expert size.
	-gpu-token d, -host-layer d
		The model's compute of one token on the GPU outside the
		waits at its MoE layers, and the host's time at each MoE
		layer of a token while the GPU waits (reading the routing,
		the policy's decision, starting the copies). Each is added
		to the modeled time: tokens x -gpu-token + dispatches x
		-host-layer. 0 by default: left out. The table's "engine"
		line, and -json's "engine", say where each figure came from.`,
	run: runReplay,
}

// replayReport is what -json prints.
type replayReport struct {
	Policy string `json:"policy"`
	// NoName hides rt.Stats's "name", which repeats "policy": a field
	// of the same JSON name outside the embedded struct wins, and an
	// empty one is left out.
	NoName *struct{} `json:"name,omitempty"`
	Trace  string    `json:"trace"`
	Shape  shapeJSON `json:"shape"`
	rt.Stats
	Replay struct {
		Dispatches    int64 `json:"dispatches"`
		Tokens        int64 `json:"tokens"`
		Slots         int   `json:"slots"`
		Peak          int   `json:"peak"`
		Loads         int64 `json:"loads"`
		Prefetches    int64 `json:"prefetches"`
		SlotsReleased int64 `json:"slots_released"` // Plan.Evict; cache.evictions counts as the reference does
		DemandBytes   int64 `json:"demand_bytes"`
		PrefetchBytes int64 `json:"prefetch_bytes"`
	} `json:"replay"`
	CostModel  costModelJSON `json:"cost_model"`
	Engine     *engineJSON   `json:"engine,omitempty"`
	MsPerToken float64       `json:"modeled_ms_per_token"`
	Opt        *optReport    `json:"opt,omitempty"`
}

// engineJSON is -json's "engine": the engine's figures, where each came
// from (a flag, the -calibration file, "policy" for its pcie_gbps,
// "default"), and the parts of the modeled time they price.
type engineJSON struct {
	GPUTokenMs    float64 `json:"gpu_token_ms"`
	GPUTokenFrom  string  `json:"gpu_token_from"`
	HostLayerMs   float64 `json:"host_layer_ms"`
	HostLayerFrom string  `json:"host_layer_from"`
	CopyGBps      float64 `json:"copy_gbps"`
	CopyFrom      string  `json:"copy_from"`
	GPUExpertUs   float64 `json:"gpu_expert_us"`
	GPUExpertFrom string  `json:"gpu_expert_from"`
	ComputeMs     float64 `json:"compute_ms"`
	HostMs        float64 `json:"host_ms"`
}

// engineSources says where the engine's figures of a replay came from: a
// flag's name, the -calibration file's, "policy" or "default". Nil when
// none of them was given, so the report is as without them.
type engineSources struct {
	gpuToken, hostLayer, copy, gpuExpert string
	calibratedCopy                       bool   // copies are priced at the calibration's rate
	cpu                                  string // the file the CPU time of an expert came from, if one did
}

type optReport struct {
	HitRate float64   `json:"hit_rate"`
	Layers  []float64 `json:"layers"`
}

func runReplay(e *env, c *command, args []string) int {
	fs := e.flagSet(c)
	tracePath := fs.String("trace", "", "routing trace file")
	synthetic := fs.String("synthetic", "", "synthetic trace preset")
	tokens := fs.Int("tokens", 2000, "tokens of a synthetic trace")
	seed := fs.Uint64("seed", 1, "seed of a synthetic trace")
	policyName := fs.String("policy", "", "policy to replay")
	expertBytes := fs.String("expert-bytes", "", "bytes of one expert")
	jsonOut := fs.Bool("json", false, "print JSON")
	decisions := fs.String("decisions", "", "write every plan to this file")
	opt := fs.Bool("opt", false, "compute Belady's optimum")
	flagModel := hardwareFlags(fs.FlagSet)
	calibration := fs.String("calibration", "", "price the run with the figures of moec run -json in `run.json`")
	fs.Var(durationFlag{&flagModel.GPUToken, 0}, "gpu-token", "one token's compute on the GPU outside the MoE layers' waits")
	fs.Var(durationFlag{&flagModel.HostLayer, 0}, "host-layer", "the host's time at one MoE layer of a token")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *synthetic == "" && (set["tokens"] || set["seed"]) {
		fmt.Fprintln(e.stderr, "moec replay: -tokens and -seed shape a -synthetic trace; a trace file is replayed as it is")
		return e.usageError(c)
	}
	policyFile := fs.Arg(0)
	switch {
	case fs.NArg() == 0 && *tracePath == "" && *synthetic == "":
		// The example moec ships: neither a policy nor a trace given.
		policyFile, *tracePath, e.files = moec.DemoPolicy, moec.DemoTrace, moec.Demo
		fmt.Fprintf(e.stderr, "moec replay: no policy or trace given: the example moec ships, %s over %s\n", moec.DemoPolicy, moec.DemoTrace)
	case fs.NArg() != 1 || (*tracePath == "") == (*synthetic == ""):
		if fs.NArg() == 1 {
			fmt.Fprintln(e.stderr, "moec replay: give one of -trace and -synthetic")
		}
		return e.usageError(c)
	}
	var out *output
	if *decisions != "" {
		var status int
		if out, status = e.createOutput("-decisions", *decisions, policyFile, *tracePath); out == nil {
			return status
		}
		defer out.Abort()
	}
	spec, status := e.loadPolicy(policyFile, *policyName)
	if spec == nil {
		return status
	}

	// The trace, and how to read it again for -opt.
	var (
		header   trace.Header
		src      replay.Source
		accesses func() ([]rt.Key, error) // the trace again, for -opt
		name     string
	)
	if *tracePath != "" {
		name = *tracePath
		open := func() (*trace.Reader, io.Closer, error) {
			f, err := e.openFile(*tracePath)
			if err != nil {
				return nil, nil, err
			}
			r, err := trace.NewReader(f, *tracePath)
			if err != nil {
				f.Close()
				return nil, nil, err
			}
			return r, f, nil
		}
		r, closer, err := open()
		if err != nil {
			e.errorf("%v", err)
			return exitError
		}
		defer closer.Close()
		header, src = r.Header(), replay.TraceSource{R: r}
		accesses = func() ([]rt.Key, error) {
			r, closer, err := open()
			if err != nil {
				return nil, err
			}
			defer closer.Close()
			return replay.Accesses(replay.TraceSource{R: r})
		}
	} else {
		cfg, err := trace.Preset(*synthetic)
		if err != nil {
			e.errorf("%v", err)
			return exitUsage
		}
		cfg.Tokens, cfg.Seed = *tokens, *seed
		// The trace is generated as it is replayed, and again for -opt,
		// never held in memory.
		g, err := trace.NewGenerator(cfg)
		if err != nil {
			e.errorf("-tokens %d: %v", *tokens, err)
			return exitUsage
		}
		header, name = cfg.Header(), "synthetic "+*synthetic
		src = replay.GenSource{G: g}
		accesses = func() ([]rt.Key, error) {
			g, err := trace.NewGenerator(cfg)
			if err != nil {
				return nil, err
			}
			return replay.Accesses(replay.GenSource{G: g})
		}
	}
	if n := header.Entries; *opt && n > replay.MaxOptAccesses/int64(header.TopK) {
		e.errorf("-opt: %s has %d rows of up to %d experts, more accesses than Belady's optimum takes (%d; it holds 12 bytes of each in memory)",
			name, n, header.TopK, replay.MaxOptAccesses)
		return exitError
	}

	shape, err := traceShape(header, *expertBytes, spec.Cache.ExpertSizeGB)
	if err != nil {
		fmt.Fprintf(e.stderr, "moec replay: %v\n", err)
		return exitUsage
	}
	var measured rt.Hardware // the run's, from -calibration
	model, sources, status := e.engineModel(flagModel.ForPolicy(spec), *flagModel, set, *calibration, shape, &measured)
	if status != exitOK {
		return status
	}
	p, err := rt.New(spec, shape)
	if err != nil {
		e.errorf("%s: %v", policyFile, err)
		return exitError
	}
	// The engine calibrates a policy with the figures it measures; the
	// replay with the run's where -calibration has them, else with the
	// cost model's, so that it decides as the run did, or as such a run
	// would.
	model.Calibrate(p, shape.ExpertBytes, measured)
	opts := replay.Options{
		Shape:  shape,
		Slots:  spec.MaxSlots(shape),
		Pinned: replay.PinnedKeys(shape.Layers, spec.Cache.Pin),
	}
	if out != nil {
		opts.Decisions = out
	}
	bar := progress.New(e.stderr)
	opts.Progress = bar.Start(header.Entries)
	res, err := replay.Run(p, src, opts)
	bar.Done()
	if err != nil {
		e.errorf("replay of %s over %s: %v", spec.Name, name, err)
		return exitError
	}
	if out != nil {
		if err := out.Commit(); err != nil {
			e.errorf("%v", err)
			return exitError
		}
	}
	var best *replay.OptResult
	if *opt {
		acc, err := accesses()
		if err == nil {
			best, err = replay.BeladyFor(acc, spec, res)
		}
		if err != nil {
			e.errorf("optimum: %v", err)
			return exitError
		}
	}
	cost := model.Cost(res)
	if *jsonOut {
		return e.printReplayJSON(spec, name, shape, res, model, cost, sources, best)
	}
	textFlags := *flagModel // the figures hardwareText marks as the policy's where model differs
	if sources != nil && sources.calibratedCopy {
		textFlags.PCIeGBps = model.PCIeGBps
	}
	if sources != nil && sources.cpu != "" {
		textFlags.CPUExpert = model.CPUExpert
	}
	return e.printTo(func(w io.Writer) {
		printReplayTable(w, spec, name, shape, res, model, cost, hardwareText(model, textFlags, shape.ExpertBytes), sources, best)
	})
}

// engineModel returns model with the engine's figures: those of the
// -calibration file, where given, unless a flag in set gives them
// explicitly, and the sources of each. The calibration's copy rate
// replaces model's (the policy's pcie_gbps or the default) unless
// -pcie-gbps was given, with no fixed cost a copy unless -copy-latency
// was. flags is the model of the flags alone. On failure it reports and
// returns the exit status.
// The figures the run calibrated its policy with go to measured.
func (e *env) engineModel(model, flags replay.CostModel, set map[string]bool, calibration string, shape rt.Shape, measured *rt.Hardware) (replay.CostModel, *engineSources, int) {
	if calibration == "" && !set["gpu-token"] && !set["host-layer"] {
		return model, nil, exitOK
	}
	src := &engineSources{gpuToken: "default", hostLayer: "default", copy: "default", gpuExpert: "default"}
	if set["gpu-token"] {
		src.gpuToken = "-gpu-token"
	}
	if set["gpu-expert"] {
		src.gpuExpert = "-gpu-expert"
	}
	if set["host-layer"] {
		src.hostLayer = "-host-layer"
	}
	switch {
	case model.PCIeGBps != flags.PCIeGBps:
		src.copy = "policy"
	case set["pcie-gbps"]:
		src.copy = "-pcie-gbps"
	}
	if calibration == "" {
		return model, src, exitOK
	}
	f, err := openFile(calibration)
	if err != nil {
		e.errorf("-calibration: %v", err)
		return model, nil, exitError
	}
	defer f.Close()
	c, err := replay.ReadCalibration(f, calibration)
	if err == nil {
		if err = c.Check(shape); err != nil {
			err = fmt.Errorf("%s: %v", calibration, err)
		}
	}
	if err != nil {
		e.errorf("-calibration: %v", err)
		return model, nil, exitError
	}
	if !set["gpu-token"] {
		model.GPUToken, src.gpuToken = c.GPUToken(), calibration
	}
	if !set["host-layer"] {
		model.HostLayer, src.hostLayer = c.HostLayer(), calibration
	}
	if !set["gpu-expert"] && shape.TopK > 0 {
		// The compute a prefetch copy hides behind: the run's GPU time
		// of a token spread over its MoE layers' selected experts.
		model.GPUExpert, src.gpuExpert = model.GPUToken/time.Duration(c.MoELayers*shape.TopK), calibration
	}
	*measured = c.Hardware()
	if !set["cpu-expert"] && !set["cpu-gbps"] && c.CPUExpertMS > 0 && model.CPUExpert == flags.CPUExpert {
		// The run's CPU time of an expert, unless the policy or a flag
		// states one.
		model.CPUExpert, src.cpu = time.Duration(c.CPUExpertMS*float64(time.Millisecond)), calibration
	}
	if !set["pcie-gbps"] && c.CopyGBps > 0 {
		model.PCIeGBps, src.copy, src.calibratedCopy = c.CopyGBps, calibration, true
		if !set["copy-latency"] {
			model.CopyLatency = 0
		}
	}
	return model, src, exitOK
}

func printReplayTable(w io.Writer, spec *rt.Spec, traceName string, shape rt.Shape, res *replay.Result, model replay.CostModel, cost replay.Cost, hardware string, src *engineSources, best *replay.OptResult) {
	s := res.Stats
	fmt.Fprintf(w, "policy    %s\n", spec.Name)
	fmt.Fprintf(w, "trace     %s: %d dispatches, %d tokens; %s\n", traceName, res.Dispatches, res.Tokens, shapeText(shape))
	fmt.Fprintf(w, "slots     %d (peak %d resident, %d in use during a layer)\n", res.Slots, res.Peak, res.PeakInUse)
	fmt.Fprintf(w, "hit rate  %.4f (%d hits, %d misses)", res.HitRate(), res.Hits, res.Misses)
	if best != nil {
		fmt.Fprintf(w, "; Belady %.4f", best.Count.HitRate())
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "copies    %d demand (%s), %d prefetch (%s); %d evictions\n",
		res.Loads, formatBytes(res.DemandBytes), res.Prefetches, formatBytes(res.PrefetchBytes), res.Evictions)
	fmt.Fprintf(w, "devices   %d on GPU, %d on CPU\n", res.GPU, res.CPU)
	if s.Prefetch.Issued > 0 {
		fmt.Fprintf(w, "prefetch  %d issued, %d useful (accuracy %.4f)\n", s.Prefetch.Issued, s.Prefetch.Useful, s.Prefetch.Accuracy)
	}
	if s.Adapt != nil {
		fmt.Fprintf(w, "adapt     %d swaps, %d skipped\n", s.Adapt.Adaptations, s.Adapt.Skipped)
	}
	fmt.Fprintf(w, "time      %.3f ms/token modeled (demand %.1f ms, CPU %.1f ms",
		ms(cost.PerToken), ms(cost.Demand), ms(cost.CPU))
	if cost.Beside > 0 {
		fmt.Fprintf(w, " of which %.1f ms beside the demand copies", ms(cost.Beside))
	}
	fmt.Fprintf(w, ", prefetch exposed %.1f ms, hidden %.1f ms", ms(cost.Exposed), ms(cost.Hidden))
	if src != nil {
		fmt.Fprintf(w, ", compute %.1f ms, host %.1f ms", ms(cost.Compute), ms(cost.Host))
	}
	fmt.Fprintln(w, ")")
	fmt.Fprintf(w, "hardware  %s\n", hardware)
	if src != nil {
		fmt.Fprintf(w, "engine    GPU %.3f ms a token (%s), host %.4f ms a MoE layer (%s), copies at %s GB/s (%s), prefetches hidden behind %.1f us an expert (%s)",
			ms(model.GPUToken), src.gpuToken, ms(model.HostLayer), src.hostLayer,
			strconv.FormatFloat(model.PCIeGBps, 'g', 4, 64), src.copy, float64(model.GPUExpert)/1e3, src.gpuExpert)
		if src.cpu != "" {
			fmt.Fprintf(w, ", CPU experts %.3f ms (%s)", ms(model.CPUExpert), src.cpu)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	header := "layer  hit rate"
	if best != nil {
		header += "  Belady"
	}
	if spec.PerLayer != nil {
		header += "  slots"
	}
	fmt.Fprintln(w, header)
	for l, lr := range res.Layers {
		line := fmt.Sprintf("%5d  %8.4f", l, lr.HitRate())
		if best != nil {
			line += fmt.Sprintf("  %6.4f", best.Layers[l].HitRate())
		}
		if spec.PerLayer != nil {
			line += fmt.Sprintf("  %5d", s.Layers[l].Capacity)
		}
		fmt.Fprintln(w, line)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (e *env) printReplayJSON(spec *rt.Spec, traceName string, shape rt.Shape, res *replay.Result, model replay.CostModel, cost replay.Cost, src *engineSources, best *replay.OptResult) int {
	var r replayReport
	r.Policy, r.Trace = spec.Name, traceName
	r.Shape = newShapeJSON(shape)
	r.Stats = res.Stats
	r.Replay.Dispatches, r.Replay.Tokens, r.Replay.Slots, r.Replay.Peak = res.Dispatches, res.Tokens, res.Slots, res.Peak
	r.Replay.Loads, r.Replay.Prefetches, r.Replay.SlotsReleased = res.Loads, res.Prefetches, res.Evictions
	r.Replay.DemandBytes, r.Replay.PrefetchBytes = res.DemandBytes, res.PrefetchBytes
	r.CostModel, r.MsPerToken = newCostModelJSON(model, shape.ExpertBytes), ms(cost.PerToken)
	if src != nil {
		r.Engine = &engineJSON{GPUTokenMs: ms(model.GPUToken), GPUTokenFrom: src.gpuToken, HostLayerMs: ms(model.HostLayer), HostLayerFrom: src.hostLayer,
			CopyGBps: model.PCIeGBps, CopyFrom: src.copy, GPUExpertUs: float64(model.GPUExpert) / 1e3, GPUExpertFrom: src.gpuExpert,
			ComputeMs: ms(cost.Compute), HostMs: ms(cost.Host)}
	}
	if best != nil {
		r.Opt = &optReport{HitRate: best.Count.HitRate(), Layers: make([]float64, 0, len(best.Layers))}
		for _, l := range best.Layers {
			r.Opt.Layers = append(r.Opt.Layers, l.HitRate())
		}
	}
	return e.printJSON(r)
}
