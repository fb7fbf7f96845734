//go:build ignore

// plotcaps draws docs/engine-caps.svg, the full Qwen1.5-MoE-A2.7B's decode
// speed and hit rate against the GPU memory cap for each policy, from the
// H200 figures of docs/PERFORMANCE.md ("The engine under a policy"):
//
//	go run docs/plotcaps.go
package main

import (
	"log"
	"os"

	"github.com/moepolicy/moec/internal/chart"
)

func main() {
	caps := []float64{8, 12, 16}
	// decode tok/s and hit rate by cap, CAPS="16 12 8" scripts/offload-bench.sh, 2026-12-02.
	speed := []chart.Series{
		{Name: "lru_baseline", X: caps, Y: []float64{37.5, 47.7, 60.1}},
		{Name: "tuned (moec tune)", X: caps, Y: []float64{37.0, 48.0, 65.3}},
		{Name: "lfu_with_prefetch", X: caps, Y: []float64{22.3, 38.3, 63.7}},
		{Name: "composed_showcase", X: caps, Y: []float64{27.1, 39.1, 39.1}},
		{Name: "floor of LRU's plans", X: caps, Y: []float64{38.3, 48.0, 61.6}, Dashed: true},
	}
	hits := []chart.Series{
		{Name: "lru_baseline", X: caps, Y: []float64{0.2281, 0.4011, 0.5512}},
		{Name: "tuned (moec tune)", X: caps, Y: []float64{0.3483, 0.5244, 0.6693}},
		{Name: "lfu_with_prefetch", X: caps, Y: []float64{0.1940, 0.4354, 0.5822}},
		{Name: "composed_showcase", X: caps, Y: []float64{0.2545, 0.3648, 0.3648}},
		{Name: "Belady (LRU's slots)", X: caps, Y: []float64{0.5132, 0.6926, 0.8056}, Dashed: true},
	}
	b, err := chart.Lines("svg", "GPU memory cap (GiB)",
		chart.Panel{Title: "Qwen1.5-MoE-A2.7B on an H200 under a cap, routing from the shared trace", YLabel: "decode tok/s", Series: speed},
		chart.Panel{Title: "hit rate", YLabel: "hit rate", Fraction: true, Series: hits})
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile("docs/engine-caps.svg", b, 0o644); err != nil {
		log.Fatal(err)
	}
}
