package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"image"
	_ "image/png" // image.DecodeConfig reads PNG
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/replay"
)

func TestParseCapacities(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
		err  string
	}{
		{"4:16:4", []int{4, 8, 12, 16}, ""},
		{"4:14:4", []int{4, 8, 12}, ""},
		{"2:4", []int{2, 3, 4}, ""},
		{"7", []int{7}, ""},
		{"8:4", nil, "the range is empty"},
		{"0:4", nil, "not a positive integer"},
		{"4:8:0", nil, "not a positive integer"},
		{"a:b", nil, "not a positive integer"},
		{"1:2:3:4", nil, "want lo:hi:step"},
		{"1:100000", nil, "more than 10000"},
	} {
		got, err := parseCapacities(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseCapacities(%q): %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !cmp.Equal(got, tc.want) {
			t.Errorf("parseCapacities(%q) = %v, %v, want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestSweep(t *testing.T) {
	tr := smallTrace(t, 2000)
	shape, _ := tr.shape("", 1)
	lru := rt.NewSpec("lru", 8)
	lfu := rt.NewSpec("lfu", 8)
	lfu.Cache.Eviction = rt.LFU
	lfu.Prefetch.Strategy, lfu.Prefetch.Budget = rt.History, 6
	caps := []int{4, 8, 16, 32}
	r, err := sweep(tr, []sweepPolicy{{"lru", lru}, {"lfu", lfu}}, caps, shape, replay.DefaultCostModel(), 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Belady never falls as slots grow, and no cache without prefetch
	// beats it.
	for i, b := range r.belady {
		if i > 0 && b < r.belady[i-1] {
			t.Errorf("Belady falls from %.4f to %.4f at capacity %d", r.belady[i-1], b, caps[i])
		}
		if h := r.cells[0][i].hitRate; h > b {
			t.Errorf("LRU at capacity %d: %.4f beats Belady %.4f", caps[i], h, b)
		}
	}
	// Each cell is what a replay of the policy at that capacity gives.
	for pi, p := range r.policies {
		for ci, c := range caps {
			s, _, _ := sizeTo(p.spec, c, shape)
			o := replayOne(s, tr.rows, shape, replay.DefaultCostModel())
			if o.err != nil {
				t.Fatal(o.err)
			}
			if got, want := r.cells[pi][ci].hitRate, o.res.HitRate(); got != want {
				t.Errorf("%s at %d: %.4f, replay gives %.4f", p.name, c, got, want)
			}
		}
	}
	want := []string{"lfu: prefetch budget 6 lowered to the capacity at capacities below 6"}
	if !cmp.Equal(r.notes, want) {
		t.Errorf("notes %q, want %q", r.notes, want)
	}
}

// checkSVG fails unless path holds a well-formed SVG document.
func checkSVG(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("<?xml")) && !bytes.HasPrefix(data, []byte("<svg")) {
		t.Fatalf("%s starts with %q", path, data[:min(len(data), 20)])
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	root := ""
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if s, ok := tok.(xml.StartElement); ok && root == "" {
			root = s.Name.Local
		}
	}
	if root != "svg" {
		t.Fatalf("%s: root element %q, want svg", path, root)
	}
}

// checkPNG fails unless path holds a PNG image of at least 300 x 200.
func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, format, err := image.DecodeConfig(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if format != "png" || cfg.Width < 300 || cfg.Height < 200 {
		t.Fatalf("%s: %s %dx%d, want a PNG of at least 300x200", path, format, cfg.Width, cfg.Height)
	}
}

func TestPlots(t *testing.T) {
	dir := t.TempDir()
	all := []series{
		{name: "lru", x: []float64{4, 8, 16}, y: []float64{0.1, 0.2, 0.4}},
		{name: "lfu", x: []float64{8, 16}, y: []float64{0.25, 0.45}},
		{name: "Belady", x: []float64{4, 8, 16}, y: []float64{0.3, 0.5, 0.7}, dashed: true},
	}
	for _, name := range []string{"sweep.svg", "sweep.png"} {
		path := filepath.Join(dir, name)
		if err := lineChart(path, "title", "capacity", "hit rate", all); err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, ".svg") {
			checkSVG(t, path)
		} else {
			checkPNG(t, path)
		}
	}
	st := loadStats(t)
	for _, name := range []string{"heat.svg", "heat.png"} {
		path := filepath.Join(dir, name)
		if err := heatmap(path, "popularity", st); err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, ".svg") {
			checkSVG(t, path)
		} else {
			checkPNG(t, path)
		}
	}
	if err := heatmap(filepath.Join(dir, "empty.png"), "", nil); err == nil {
		t.Error("a heatmap of nothing: no error")
	}
	if err := lineChart(filepath.Join(dir, "x.gif"), "", "", "", all); err == nil {
		t.Error("a .gif chart: no error")
	}
	if _, err := os.Stat(filepath.Join(dir, "x.gif")); err == nil {
		t.Error("a .gif chart was written")
	}
}

// loadStats returns the popularity counts of the shared trace.
func loadStats(t *testing.T) [][]int64 {
	t.Helper()
	tr := smallTrace(t, 5000)
	counts := make([][]int64, tr.header.Layers)
	for l := range counts {
		counts[l] = make([]int64, tr.header.Experts)
	}
	for _, r := range tr.rows {
		for _, e := range r.Experts {
			counts[r.Layer][e]++
		}
	}
	return counts
}
