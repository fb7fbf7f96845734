package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/moepolicy/moec/ast"
	"github.com/moepolicy/moec/parser"
	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/tune"
)

// TestTunedSource checks that every configuration of the default grid
// written as .moe text parses, checks clean, formats to itself and
// resolves to the Spec that was replayed.
func TestTunedSource(t *testing.T) {
	rep := &tune.Report{Trace: "t.jsonl", Grid: "default", Objective: tune.HitRate, Configurations: 1}
	ignore := cmp.Options{cmp.FilterPath(func(p cmp.Path) bool {
		switch p.Last().String() {
		case ".Pos", ".Source", ".KeyPos":
			return true
		}
		return false
	}, cmp.Ignore()), cmpopts.EquateEmpty()}
	grid := tune.DefaultGrid()
	grid.Capacity = append([]int{1, 2, 3}, grid.Capacity...)
	grid.Budget = append([]int{1}, grid.Budget...)
	grid.Eviction = rt.EvictionWords()
	grid.Mode = rt.ScheduleModeWords()
	for i, c := range grid.Expand() {
		if c.Mode == "hybrid" { // deciding with the hardware's figures, as Tune makes it
			c.PCIeGBps, c.CPUExpertMS = 52.5, 2.1
		}
		want := c.Spec("tuned")
		if len(want.Check()) > 0 {
			continue
		}
		src, err := tunedSource("tuned", rep, tune.Result{Index: i + 1, Config: c, HitRate: 0.5, MsPerToken: 1, Belady: 0.6})
		if err != nil {
			t.Fatalf("%v: %v", c, err)
		}
		specs, diags := checkSource("best.moe", src)
		if len(diags) > 0 {
			t.Fatalf("%v:\n%s\n%v", c, src, diags)
		}
		if diff := cmp.Diff(want, specs[0], ignore); diff != "" {
			t.Fatalf("%v: spec (-replayed +written):\n%s", c, diff)
		}
		f, _ := parser.ParseFile("best.moe", src)
		if got := ast.Format(f); string(got) != string(src) {
			t.Fatalf("%v: the text is not formatted:\n%s\nformatted:\n%s", c, src, got)
		}
	}
}
