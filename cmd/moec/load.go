package main

import (
	"fmt"
	"strings"

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
// sweep), to be replayed by many policies with the default cost model.
// On failure it reports and returns nil with the exit status.
func (e *env) loadTrace(name, path, expertBytes string) (*tune.Replayer, int) {
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
	return &tune.Replayer{Trace: path, Rows: rows, Shape: shape, Model: replay.DefaultCostModel()}, exitOK
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
