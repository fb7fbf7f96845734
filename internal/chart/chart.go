// Package chart draws the pictures moec makes, with gonum.org/v1/plot:
// sweep's hit rate and modeled time per token against capacity (Lines)
// and trace stats' heatmap of expert popularity (Heatmap), each as an SVG
// or PNG image.
package chart

import (
	"bytes"
	"fmt"
	"image/color"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Format returns the image format of path from its extension: "svg" or
// "png".
func Format(path string) (string, error) {
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".svg", ".png":
		return ext[1:], nil
	}
	return "", fmt.Errorf("%q: want a .svg or .png file", path)
}

// picture draws a picture of w x h in format ("svg" or "png") and
// returns the image file.
func picture(format string, w, h vg.Length, drawOn func(draw.Canvas)) ([]byte, error) {
	c, err := draw.NewFormattedCanvas(w, h, format)
	if err != nil {
		return nil, err
	}
	drawOn(draw.New(c))
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// A Series is one line of a line chart.
type Series struct {
	Name   string
	X, Y   []float64
	Dashed bool // drawn dashed and black: a bound, not a policy
}

// A Panel is one chart of a picture of Lines: its series against the
// picture's x axis.
type Panel struct {
	Title, YLabel string
	// Fraction draws y from 0 to 1 with a tick every 0.1, for hit
	// rates; otherwise y runs from 0 to the largest value.
	Fraction bool
	Series   []Series
}

// palette holds the colours of the first series: twelve that stay apart
// on screen and on paper (d3's category10 less its grey, and three of
// its category20b), none near the black of a bound.
var palette = []color.Color{
	color.RGBA{0x1f, 0x77, 0xb4, 0xff}, // blue
	color.RGBA{0xff, 0x7f, 0x0e, 0xff}, // orange
	color.RGBA{0x2c, 0xa0, 0x2c, 0xff}, // green
	color.RGBA{0xd6, 0x27, 0x28, 0xff}, // red
	color.RGBA{0x94, 0x67, 0xbd, 0xff}, // purple
	color.RGBA{0x8c, 0x56, 0x4b, 0xff}, // brown
	color.RGBA{0xe3, 0x77, 0xc2, 0xff}, // pink
	color.RGBA{0xbc, 0xbd, 0x22, 0xff}, // olive
	color.RGBA{0x17, 0xbe, 0xcf, 0xff}, // cyan
	color.RGBA{0x39, 0x3b, 0x79, 0xff}, // indigo
	color.RGBA{0xe7, 0xba, 0x52, 0xff}, // gold
	color.RGBA{0x7b, 0x41, 0x73, 0xff}, // plum
}

// dashes are the patterns of the series after the first
// len(palette), which reuse the colours: each round of colours gets the
// next pattern.
var dashes = [][]vg.Length{
	{vg.Points(6), vg.Points(3)},
	{vg.Points(2), vg.Points(2)},
	{vg.Points(8), vg.Points(2), vg.Points(2), vg.Points(2)},
	{vg.Points(1), vg.Points(2)},
}

// A style is how one series is drawn.
type style struct {
	color  color.Color
	dashes []vg.Length // nil for a solid line
	shape  draw.GlyphDrawer
}

// styleOf returns the style of the i-th series that is not a bound: a
// colour of its own for the first len(palette), then the colours again,
// dashed.
func styleOf(i int) style {
	st := style{color: palette[i%len(palette)], shape: plotutil.Shape(i)}
	if round := i / len(palette); round > 0 {
		st.dashes = dashes[(round-1)%len(dashes)]
	}
	return st
}

// boundStyle is the style of a bound (Belady's optimum).
var boundStyle = style{color: blackish, dashes: []vg.Length{vg.Points(6), vg.Points(3)}, shape: plotutil.Shape(0)}

// Lines draws the panels one above the other in format ("svg" or "png"),
// sharing the x axis (whole numbers from 0), one line with points per
// series, and a legend of every series to the right of the panels,
// outside the data; a series keeps its style in every panel, found by
// name. It returns the image file.
func Lines(format, xLabel string, panels ...Panel) ([]byte, error) {
	legend := plot.NewLegend()
	legend.Top, legend.Left = true, true
	styles := map[string]style{}
	var plots []*plot.Plot
	most := 0.0
	for _, pn := range panels {
		p := plot.New()
		p.Title.Text = pn.Title
		p.X.Label.Text = xLabel
		p.Y.Label.Text = pn.YLabel
		p.Add(plotter.NewGrid())
		for _, s := range pn.Series {
			xys := make(plotter.XYs, 0, len(s.X))
			for i := range s.X {
				xys = append(xys, plotter.XY{X: s.X[i], Y: s.Y[i]})
				most = max(most, s.X[i])
			}
			st, seen := styles[s.Name]
			if !seen {
				st = boundStyle
				if !s.Dashed {
					st = styleOf(len(styles))
				}
				styles[s.Name] = st
			}
			if len(xys) == 0 {
				continue
			}
			line, points, err := plotter.NewLinePoints(xys)
			if err != nil {
				return nil, err
			}
			line.Width = vg.Points(1.5)
			line.Color, points.Color = st.color, st.color
			line.Dashes, points.Shape = st.dashes, st.shape
			p.Add(line, points)
			if !seen {
				legend.Add(s.Name, line, points)
			}
		}
		p.Y.Min = 0
		if pn.Fraction {
			p.Y.Max = 1
			var yTicks []plot.Tick
			for i := 0; i <= 10; i++ {
				yTicks = append(yTicks, plot.Tick{Value: float64(i) / 10, Label: fmt.Sprintf("%.1f", float64(i)/10)})
			}
			p.Y.Tick.Marker = plot.ConstantTicks(yTicks)
		}
		plots = append(plots, p)
	}
	for _, p := range plots {
		p.X.Min = 0
		p.X.Max = max(p.X.Max, most)
		p.X.Tick.Marker = intTicks(int(most))
	}
	width, panelHeight := 9*vg.Inch, 4.5*vg.Inch
	if len(panels) == 1 {
		panelHeight = 5.5 * vg.Inch
	}
	height := vg.Length(max(len(panels), 1)) * panelHeight
	return picture(format, width+legendWidth(&legend), height, func(c draw.Canvas) {
		for i, p := range plots {
			// Panel i from the top: cropped from below by the panels
			// under it and from above by those over it.
			below, above := vg.Length(len(plots)-1-i)*panelHeight, vg.Length(i)*panelHeight
			p.Draw(draw.Crop(c, 0, -legendWidth(&legend), below, -above))
		}
		legend.XOffs, legend.YOffs = vg.Points(6), -vg.Points(28)
		legend.Draw(draw.Crop(c, width, 0, 0, 0))
	})
}

// legendWidth is the room the legend takes right of the panels.
func legendWidth(l *plot.Legend) vg.Length {
	r := l.Rectangle(draw.Canvas{})
	return r.Max.X - r.Min.X + vg.Points(18)
}

var blackish = color.Gray{Y: 0x30}

// intTicks returns ticks at whole numbers from 0 to most, at a round step
// (1, 2, 5, 10, 20, 50, ...) that makes at most 16 of them.
func intTicks(most int) plot.ConstantTicks {
	step := 1
	for base := 1; most/step >= 16; base *= 10 {
		for _, m := range []int{1, 2, 5} {
			if step = base * m; most/step < 16 {
				break
			}
		}
	}
	var ticks []plot.Tick
	for v := 0; v <= most; v += step {
		ticks = append(ticks, plot.Tick{Value: float64(v), Label: fmt.Sprint(v)})
	}
	return ticks
}

// The most cells a heatmap draws across (experts) and down (layers). An
// SVG holds one rectangle per cell, so a larger matrix is drawn in bins of
// adjacent experts (layers) whose counts are summed, which keeps the
// picture within a few MB whatever the trace's shape; the axes still count
// experts and layers.
const (
	maxHeatColumns = 256
	maxHeatRows    = 128
)

// popularityGrid is a heatmap's grid: sums[row][column] of the counts of
// bins of cw experts by rw layers.
type popularityGrid struct {
	sums   [][]float64
	cw, rw int
}

// binnedGrid bins counts[layer][expert], every layer with as many
// experts, into at most maxHeatColumns x maxHeatRows cells.
func binnedGrid(counts [][]int64) popularityGrid {
	experts, layers := len(counts[0]), len(counts)
	g := popularityGrid{cw: (experts + maxHeatColumns - 1) / maxHeatColumns, rw: (layers + maxHeatRows - 1) / maxHeatRows}
	g.sums = make([][]float64, (layers+g.rw-1)/g.rw)
	for r := range g.sums {
		g.sums[r] = make([]float64, (experts+g.cw-1)/g.cw)
	}
	for l, row := range counts {
		for e, n := range row {
			g.sums[l/g.rw][e/g.cw] += float64(n)
		}
	}
	return g
}

func (g popularityGrid) Dims() (c, r int)   { return len(g.sums[0]), len(g.sums) }
func (g popularityGrid) Z(c, r int) float64 { return g.sums[r][c] }

// X and Y are the middle of a bin, in experts and layers.
func (g popularityGrid) X(c int) float64 { return float64(c*g.cw) + float64(g.cw-1)/2 }
func (g popularityGrid) Y(r int) float64 { return float64(r*g.rw) + float64(g.rw-1)/2 }

// Heatmap draws a heatmap of counts[layer][expert], every layer with as
// many experts, in format ("svg" or "png"): experts on x, layers on y,
// with a color bar of the counts; it returns the image file. Beyond
// maxHeatColumns experts or maxHeatRows layers, a cell sums a bin of
// them, and the axis label says how many.
func Heatmap(format, title string, counts [][]int64) ([]byte, error) {
	if len(counts) == 0 || len(counts[0]) == 0 {
		return nil, fmt.Errorf("no experts to draw")
	}
	for l, row := range counts {
		if len(row) != len(counts[0]) {
			return nil, fmt.Errorf("layer %d has %d experts, layer 0 has %d", l, len(row), len(counts[0]))
		}
	}
	g := binnedGrid(counts)
	var most float64
	for _, row := range g.sums {
		for _, n := range row {
			most = max(most, n)
		}
	}
	cm := moreland.ExtendedBlackBody()
	cm.SetMin(0)
	cm.SetMax(max(most, 1))

	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "expert"
	if g.cw > 1 {
		p.X.Label.Text = fmt.Sprintf("expert (cells of %d)", g.cw)
	}
	p.Y.Label.Text = "layer"
	if g.rw > 1 {
		p.Y.Label.Text = fmt.Sprintf("layer (cells of %d)", g.rw)
	}
	h := plotter.NewHeatMap(g, cm.Palette(256))
	h.Min, h.Max = 0, max(most, 1)
	p.Add(h)
	p.X.Tick.Marker = intTicks(len(counts[0]) - 1)
	p.Y.Tick.Marker = intTicks(len(counts) - 1)

	bar := plot.New()
	bar.Title.Text = "selections"
	bar.HideX()
	bar.X.Min, bar.X.Max = 0, 1
	bar.Add(&plotter.ColorBar{ColorMap: cm, Vertical: true})

	width := 10 * vg.Inch
	_, rows := g.Dims()
	height := vg.Length(min(max(rows, 5), 48))*0.3*vg.Inch + 2*vg.Inch
	return picture(format, width, height, func(c draw.Canvas) {
		barWidth := 1.1 * vg.Inch
		p.Draw(draw.Crop(c, 0, -barWidth, 0, 0))
		bar.Draw(draw.Crop(c, width-barWidth, 0, 0, 0))
	})
}
