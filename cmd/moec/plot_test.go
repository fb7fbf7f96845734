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
)

const sharedTrace = "../../testdata/traces/qwen15moe-gsm8k-5layer.jsonl"

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
	h, rows, err := readTrace(sharedTrace)
	if err != nil {
		t.Fatal(err)
	}
	counts := make([][]int64, h.Layers)
	for l := range counts {
		counts[l] = make([]int64, h.Experts)
	}
	for _, r := range rows {
		for _, e := range r.Experts {
			counts[r.Layer][e]++
		}
	}
	return counts
}
