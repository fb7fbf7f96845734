package chart

import (
	"bytes"
	"encoding/xml"
	"errors"
	"image"
	_ "image/png" // image.DecodeConfig reads PNG
	"io"
	"testing"
)

// check fails unless data is a picture of the format: a well-formed SVG
// document, or a PNG image of at least 300 x 200.
func check(t *testing.T, name, format string, data []byte) {
	t.Helper()
	if format == "png" {
		cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if format != "png" || cfg.Width < 300 || cfg.Height < 200 {
			t.Fatalf("%s: %s %dx%d, want a PNG of at least 300x200", name, format, cfg.Width, cfg.Height)
		}
		return
	}
	if !bytes.HasPrefix(data, []byte("<?xml")) && !bytes.HasPrefix(data, []byte("<svg")) {
		t.Fatalf("%s starts with %q", name, data[:min(len(data), 20)])
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	root := ""
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if s, ok := tok.(xml.StartElement); ok && root == "" {
			root = s.Name.Local
		}
	}
	if root != "svg" {
		t.Fatalf("%s: root element %q, want svg", name, root)
	}
}

func TestFormat(t *testing.T) {
	for path, want := range map[string]string{"a.svg": "svg", "dir/B.PNG": "png", "x.gif": "", "svg": ""} {
		got, err := Format(path)
		if got != want || (err == nil) != (want != "") {
			t.Errorf("Format(%q) = %q, %v, want %q", path, got, err, want)
		}
	}
}

func TestLines(t *testing.T) {
	all := []Series{
		{Name: "lru", X: []float64{4, 8, 16}, Y: []float64{0.1, 0.2, 0.4}},
		{Name: "lfu", X: []float64{8, 16}, Y: []float64{0.25, 0.45}},
		{Name: "skipped everywhere"},
		{Name: "Belady", X: []float64{4, 8, 16}, Y: []float64{0.3, 0.5, 0.7}, Dashed: true},
	}
	for _, format := range []string{"svg", "png"} {
		data, err := Lines(format, "title", "capacity", "hit rate", all)
		if err != nil {
			t.Fatal(err)
		}
		check(t, "lines "+format, format, data)
		if format == "svg" && !bytes.Contains(data, []byte("Belady")) {
			t.Errorf("the legend does not name the series")
		}
	}
	if _, err := Lines("gif", "", "", "", all); err == nil {
		t.Error("a gif chart: no error")
	}
}

func TestHeatmap(t *testing.T) {
	// 5 layers of 60 experts, as the shared trace has, with uneven counts.
	counts := make([][]int64, 5)
	for l := range counts {
		counts[l] = make([]int64, 60)
		for e := range counts[l] {
			counts[l][e] = int64((l*7 + e*13) % 50)
		}
	}
	for _, format := range []string{"svg", "png"} {
		data, err := Heatmap(format, "popularity", counts)
		if err != nil {
			t.Fatal(err)
		}
		check(t, "heatmap "+format, format, data)
	}
	if _, err := Heatmap("png", "", nil); err == nil {
		t.Error("a heatmap of nothing: no error")
	}
	_, err := Heatmap("svg", "", [][]int64{{1, 2}, {3}})
	if want := "layer 1 has 1 experts, layer 0 has 2"; err == nil || err.Error() != want {
		t.Errorf("a ragged heatmap: %v, want %q", err, want)
	}
}

// TestHeatmapBounded: a heatmap of the largest shape a trace may have is
// drawn in bins, so its SVG stays small however many experts and layers
// there are (one rectangle per expert would take over 100 MB).
func TestHeatmapBounded(t *testing.T) {
	for _, shape := range []struct{ layers, experts int }{{16, 65536}, {4096, 256}, {5, 60}} {
		counts := make([][]int64, shape.layers)
		for l := range counts {
			counts[l] = make([]int64, shape.experts)
			for e := range counts[l] {
				counts[l][e] = int64((l*7 + e*13) % 50)
			}
		}
		data, err := Heatmap("svg", "popularity", counts)
		if err != nil {
			t.Fatal(err)
		}
		check(t, "heatmap", "svg", data)
		if len(data) > 4<<20 {
			t.Errorf("a heatmap of %d layers x %d experts takes %d bytes of SVG, want at most 4 MiB", shape.layers, shape.experts, len(data))
		}
		g := binnedGrid(counts)
		if c, r := g.Dims(); c > maxHeatColumns || r > maxHeatRows || g.X(c-1) > float64(shape.experts) || g.Y(r-1) > float64(shape.layers) {
			t.Errorf("%d x %d: %d x %d cells, the last at (%v, %v)", shape.layers, shape.experts, c, r, g.X(c-1), g.Y(r-1))
		}
		t.Logf("%d layers x %d experts: %d bytes", shape.layers, shape.experts, len(data))
	}
}
