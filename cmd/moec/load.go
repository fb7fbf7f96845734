package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/moepolicy/moec/model"
	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/replay"
	"github.com/moepolicy/moec/rt/trace"
	"github.com/moepolicy/moec/rt/tune"
)

// The files that several commands read: policies and traces.

// loadPolicy reads file, checks it and returns the policy called name, or
// the file's only policy when name is empty. On failure it reports and
// returns nil with the exit status.
func (e *env) loadPolicy(file, name string) (*rt.Spec, int) {
	specs, status := e.loadPolicies(file)
	if specs == nil {
		return nil, status
	}
	if name == "" {
		if len(specs) == 1 {
			return specs[0], exitOK
		}
		e.errorf("%s has %d policies (%s): choose one with -policy", file, len(specs), policyNames(specs))
		return nil, exitUsage
	}
	for _, s := range specs {
		if s.Name == name {
			return s, exitOK
		}
	}
	e.errorf("%s has no policy %q (it has %s)", file, name, policyNames(specs))
	return nil, exitError
}

// loadPolicies reads file and checks it. On failure it reports (the
// diagnostics as moec check prints them) and returns nil with the exit
// status.
func (e *env) loadPolicies(file string) ([]*rt.Spec, int) {
	src, err := e.readInput(file)
	if err != nil {
		e.errorf("%v", err)
		return nil, exitError
	}
	specs, diags := checkSource(inputName(file), src)
	if len(diags) > 0 {
		e.printDiagnostics(diags)
		return nil, exitError
	}
	return specs, exitOK
}

func policyNames(specs []*rt.Spec) string {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}

// loadTrace reads the trace at path into memory for command name (tune or
// sweep), to be replayed by many policies with the cost model m. On
// failure it reports and returns nil with the exit status.
func (e *env) loadTrace(name, path, expertBytes string, m replay.CostModel) (*tune.Replayer, int) {
	h, rows, err := readTrace(path)
	if err != nil {
		e.errorf("%v", err)
		return nil, exitError
	}
	shape, err := traceShape(h, expertBytes, rt.DefaultExpertSizeGB)
	if err != nil {
		fmt.Fprintf(e.stderr, "moec %s: %v\n", name, err)
		return nil, exitUsage
	}
	return &tune.Replayer{Trace: path, Rows: rows, Shape: shape, Model: m}, exitOK
}

// gpuFlags say which GPU tune and sweep size the cache for: the model's
// config.json and the GPU's memory, from which the expert slots follow
// as moec auto reckons them.
type gpuFlags struct {
	config, vram, dtype string
	context             int

	opts autoOptions // parsed by check
}

// addGPUFlags registers the flags of a GPU on fs.
func addGPUFlags(fs *flag.FlagSet) *gpuFlags {
	g := &gpuFlags{}
	fs.StringVar(&g.config, "config", "", "the model's config.json")
	fs.StringVar(&g.vram, "vram", "", "the GPU's memory")
	fs.StringVar(&g.dtype, "dtype", "bf16", "the format of the expert weights")
	fs.IntVar(&g.context, "context", 4096, "tokens of context")
	return g
}

// gpuUsage and gpuHelp describe the flags, for the commands' help.
const (
	gpuUsage = "-config config.json -vram size [-dtype format] [-context n]"
	gpuHelp  = `	-config config.json, -vram size, -dtype format, -context n
		The model and GPU to size the cache for: the expert slots
		that fit, as moec auto reckons them ("moec help auto"; every
		slot, without auto's headroom), scaled to the layers the trace
		has when it records some of the model's. The experts weigh
		what -dtype makes them unless -expert-bytes says otherwise.`
)

// given reports whether -config or -vram was given.
func (g *gpuFlags) given() bool { return g.config != "" || g.vram != "" }

// check reads the flags for command name; on a usage error it reports and
// returns false.
func (g *gpuFlags) check(e *env, name string) bool {
	if !g.given() {
		return true
	}
	var err error
	switch {
	case g.config == "" || g.vram == "":
		err = fmt.Errorf("-config and -vram go together")
	case g.context < 1:
		err = fmt.Errorf("-context %d: want at least 1 token", g.context)
	default:
		g.opts = autoOptions{config: g.config, context: g.context, strategy: "aggressive"}
		if g.opts.vram, err = parseBytes(g.vram); err != nil {
			err = fmt.Errorf("-vram: %v", err)
		} else if g.opts.dtype, err = model.ParseFormat(g.dtype); err != nil {
			err = fmt.Errorf("-dtype: %v", err)
		}
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "moec %s: %v\n", name, err)
		return false
	}
	return true
}

// slots returns how many expert slots the GPU holds for the trace r
// replays, and says how in a line for the tables; it sets r's expert size
// to the model's unless keepBytes. It returns 0 when no GPU was given;
// on failure it reports and returns the exit status.
func (g *gpuFlags) slots(e *env, r *tune.Replayer, keepBytes bool) (slots int, text string, status int) {
	if !g.given() {
		return 0, "", exitOK
	}
	m, err := model.ReadConfig(g.config)
	if err != nil {
		e.errorf("%v", err)
		return 0, "", exitError
	}
	layers := len(m.MoELayers)
	switch {
	case m.Experts != r.Shape.Experts:
		err = fmt.Errorf("%s has %d experts per layer, the trace %s %d: it records another model", g.config, m.Experts, r.Trace, r.Shape.Experts)
	case layers < r.Shape.Layers:
		err = fmt.Errorf("%s has %d MoE layers, the trace %s %d: it records another model", g.config, layers, r.Trace, r.Shape.Layers)
	}
	if err != nil {
		e.errorf("%v", err)
		return 0, "", exitError
	}
	p, err := planAuto(m, g.opts)
	if err != nil {
		e.errorf("%v", err)
		return 0, "", exitError
	}
	if !keepBytes {
		r.Shape.ExpertBytes = p.expert
	}
	// The trace's layers get their share of the slots.
	slots = max(1, p.capacity*r.Shape.Layers/layers)
	text = fmt.Sprintf("%s on %s: %d of the model's %d slots fit", m.Type, formatBytes(p.vram), p.capacity, m.Slots())
	if r.Shape.Layers < layers {
		text += fmt.Sprintf(", %d for the trace's %d of %d layers", slots, r.Shape.Layers, layers)
	}
	return slots, text, exitOK
}

// readTrace reads the trace file path into memory.
func readTrace(path string) (trace.Header, []replay.Row, error) {
	f, err := openFile(path)
	if err != nil {
		return trace.Header{}, nil, err
	}
	defer f.Close()
	r, err := trace.NewReader(f, path)
	if err != nil {
		return trace.Header{}, nil, err
	}
	rows, err := replay.ReadRows(r)
	return r.Header(), rows, err
}

// traceShape returns the shape of the model of the trace with header h.
// One expert weighs what the -expert-bytes flag (flag) says, else what
// the trace says or moec knows of its model, else fallbackGB.
func traceShape(h trace.Header, flag string, fallbackGB float64) (rt.Shape, error) {
	s := h.Shape()
	switch {
	case flag != "":
		b, err := parseBytes(flag)
		if err != nil {
			return s, fmt.Errorf("-expert-bytes: %v", err)
		}
		s.ExpertBytes = b
	case s.ExpertBytes == 0:
		s.ExpertBytes = int64(fallbackGB * 1e9)
	}
	return s, nil
}
