package chart

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/png" // image.DecodeConfig reads PNG
	"io"
	"slices"
	"strconv"
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
		data, err := Lines(format, "capacity", Panel{Title: "title", YLabel: "hit rate", Fraction: true, Series: all})
		if err != nil {
			t.Fatal(err)
		}
		check(t, "lines "+format, format, data)
		if format == "svg" && !bytes.Contains(data, []byte("Belady")) {
			t.Errorf("the legend does not name the series")
		}
	}
	if _, err := Lines("gif", "", Panel{Series: all}); err == nil {
		t.Error("a gif chart: no error")
	}
}

// svgTexts returns the text elements of an SVG picture with their x.
func svgTexts(t *testing.T, data []byte) map[string][]float64 {
	t.Helper()
	texts := map[string][]float64{}
	d := xml.NewDecoder(bytes.NewReader(data))
	var x float64
	in := false
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return texts
		}
		if err != nil {
			t.Fatal(err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if in = tok.Name.Local == "text"; in {
				for _, a := range tok.Attr {
					if a.Name.Local == "x" {
						x, _ = strconv.ParseFloat(a.Value, 64)
					}
				}
			}
		case xml.CharData:
			if in {
				texts[string(tok)] = append(texts[string(tok)], x)
			}
		case xml.EndElement:
			in = false
		}
	}
}

// TestLinesLegendOutside checks that the legend lies right of the data
// of every panel (it was drawn over the lines, at the upper left), that
// both panels are drawn, and that a series keeps its place in the legend
// once, however many panels draw it.
func TestLinesLegendOutside(t *testing.T) {
	x := []float64{4, 8, 12, 16}
	var hit, ms []Series
	for i := range 14 {
		name := fmt.Sprintf("policy_%d", i)
		hit = append(hit, Series{Name: name, X: x, Y: []float64{0.1, 0.2, 0.3, float64(i) / 20}})
		ms = append(ms, Series{Name: name, X: x, Y: []float64{5, 4, 3, float64(i)}})
	}
	hit = append(hit, Series{Name: "Belady", X: x, Y: []float64{0.4, 0.5, 0.6, 0.7}, Dashed: true})
	data, err := Lines("svg", "capacity", Panel{Title: "hit", YLabel: "hit rate", Fraction: true, Series: hit},
		Panel{Title: "time", YLabel: "modeled ms/token", Series: ms})
	if err != nil {
		t.Fatal(err)
	}
	texts := svgTexts(t, data)
	// The rightmost x tick, 16, is at the right end of the data.
	right := slices.Max(texts["16"])
	if len(texts["16"]) != 2 {
		t.Errorf("x tick 16 drawn %d times, want once per panel", len(texts["16"]))
	}
	for _, s := range hit {
		if xs := texts[s.Name]; len(xs) != 1 || xs[0] <= right {
			t.Errorf("legend entry %q at x %v, want once, right of the data (%g)", s.Name, xs, right)
		}
	}
	for _, label := range []string{"hit rate", "modeled ms/token"} {
		if len(texts[label]) != 1 {
			t.Errorf("y label %q drawn %d times, want once", label, len(texts[label]))
		}
	}
}

// TestStyles checks that the first twelve series have twelve colours and
// solid lines, and that the next ones reuse the colours dashed, no two
// alike, none like a bound's.
func TestStyles(t *testing.T) {
	type key struct {
		color  color.RGBA
		dashes string
	}
	seen := map[key]int{}
	rgba := func(c color.Color) color.RGBA { return color.RGBAModel.Convert(c).(color.RGBA) }
	colors := map[color.RGBA]bool{}
	for i := range 60 {
		st := styleOf(i)
		if i < 12 {
			colors[rgba(st.color)] = true
			if st.dashes != nil {
				t.Errorf("series %d is dashed", i)
			}
		} else if st.dashes == nil {
			t.Errorf("series %d is solid, with the colour of series %d", i, i%12)
		}
		k := key{rgba(st.color), fmt.Sprint(st.dashes)}
		if j, ok := seen[k]; ok {
			t.Errorf("series %d looks like series %d", i, j)
		}
		seen[k] = i
		if rgba(st.color) == rgba(boundStyle.color) {
			t.Errorf("series %d has the colour of a bound", i)
		}
	}
	if len(colors) != 12 {
		t.Errorf("%d colours for the first 12 series, want 12", len(colors))
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
