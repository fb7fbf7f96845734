package main

import (
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

// The pictures moec draws, with gonum.org/v1/plot: sweep's hit rate
// against capacity and trace stats' heatmap of expert popularity.

// plotFormat returns the image format of path from its extension: "svg"
// or "png".
func plotFormat(path string) (string, error) {
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".svg", ".png":
		return ext[1:], nil
	}
	return "", fmt.Errorf("%q: want a .svg or .png file", path)
}

// savePicture draws a picture of w x h on a canvas of path's format and
// writes it to path, replacing path only once it is complete.
func savePicture(path string, w, h vg.Length, drawOn func(draw.Canvas)) error {
	format, err := plotFormat(path)
	if err != nil {
		return err
	}
	c, err := draw.NewFormattedCanvas(w, h, format)
	if err != nil {
		return err
	}
	drawOn(draw.New(c))
	f, err := createAtomic(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := c.WriteTo(f); err != nil {
		return err
	}
	return f.Commit()
}

// A series is one line of a line chart.
type series struct {
	name   string
	x, y   []float64
	dashed bool // drawn dashed and black: a bound, not a policy
}

// lineChart writes a chart of the series to path (.svg or .png), one line
// with points per series, a legend at the upper left.
func lineChart(path, title, xLabel, yLabel string, all []series) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Y.Min, p.Y.Max = 0, 1
	var yTicks []plot.Tick
	for i := 0; i <= 10; i++ {
		yTicks = append(yTicks, plot.Tick{Value: float64(i) / 10, Label: fmt.Sprintf("%.1f", float64(i)/10)})
	}
	p.Y.Tick.Marker = plot.ConstantTicks(yTicks)
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(8)
	p.Legend.YOffs = -vg.Points(8)
	color := 0
	for _, s := range all {
		xys := make(plotter.XYs, 0, len(s.x))
		for i := range s.x {
			xys = append(xys, plotter.XY{X: s.x[i], Y: s.y[i]})
		}
		if len(xys) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return err
		}
		line.Width = vg.Points(1.5)
		if s.dashed {
			line.Color, points.Color = blackish, blackish
			line.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
			points.Shape = plotutil.Shape(0)
		} else {
			line.Color, points.Color = plotutil.Color(color), plotutil.Color(color)
			points.Shape = plotutil.Shape(color)
			color++
		}
		p.Add(line, points)
		p.Legend.Add(s.name, line, points)
	}
	most := 0.0
	for _, s := range all {
		for _, x := range s.x {
			most = max(most, x)
		}
	}
	p.X.Min = 0
	p.X.Tick.Marker = intTicks(int(most))
	return savePicture(path, 9*vg.Inch, 5.5*vg.Inch, p.Draw)
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

// popularityGrid is a heatmap's grid: counts[layer][expert].
type popularityGrid [][]int64

func (g popularityGrid) Dims() (c, r int) {
	if len(g) == 0 {
		return 0, 0
	}
	return len(g[0]), len(g)
}
func (g popularityGrid) Z(c, r int) float64 { return float64(g[r][c]) }
func (g popularityGrid) X(c int) float64    { return float64(c) }
func (g popularityGrid) Y(r int) float64    { return float64(r) }

// heatmap writes a heatmap of counts[layer][expert] to path (.svg or
// .png): experts on x, layers on y, with a color bar of the counts.
func heatmap(path, title string, counts [][]int64) error {
	g := popularityGrid(counts)
	if c, r := g.Dims(); c == 0 || r == 0 {
		return fmt.Errorf("no experts to draw")
	}
	var most int64
	for _, row := range counts {
		for _, n := range row {
			most = max(most, n)
		}
	}
	cm := moreland.ExtendedBlackBody()
	cm.SetMin(0)
	cm.SetMax(float64(max(most, 1)))

	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "expert"
	p.Y.Label.Text = "layer"
	h := plotter.NewHeatMap(g, cm.Palette(256))
	h.Min, h.Max = 0, float64(max(most, 1))
	p.Add(h)
	experts, layers := g.Dims()
	p.X.Tick.Marker = intTicks(experts - 1)
	p.Y.Tick.Marker = intTicks(layers - 1)

	bar := plot.New()
	bar.Title.Text = "selections"
	bar.HideX()
	bar.X.Min, bar.X.Max = 0, 1
	bar.Add(&plotter.ColorBar{ColorMap: cm, Vertical: true})

	width := 10 * vg.Inch
	height := vg.Length(min(max(layers, 5), 48))*0.3*vg.Inch + 2*vg.Inch
	return savePicture(path, width, height, func(c draw.Canvas) {
		barWidth := 1.1 * vg.Inch
		p.Draw(draw.Crop(c, 0, -barWidth, 0, 0))
		bar.Draw(draw.Crop(c, width-barWidth, 0, 0, 0))
	})
}
