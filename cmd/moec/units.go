package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/moepolicy/moec/rt"
)

// byteUnits are the suffixes parseBytes accepts, longest first so that
// "MiB" is not read as "B".
var byteUnits = []struct {
	suffix string
	scale  float64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// parseBytes reads a size: a plain number of bytes, or a number with a
// decimal (kB, MB, GB, TB) or binary (KiB, MiB, GiB, TiB) suffix, as in
// 17.3MB, 1.2GB or 16.5MiB.
func parseBytes(s string) (int64, error) {
	num, scale := strings.TrimSpace(s), 1.0
	for _, u := range byteUnits {
		if strings.HasSuffix(num, u.suffix) {
			num, scale = strings.TrimSpace(strings.TrimSuffix(num, u.suffix)), u.scale
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("invalid size %q: want a number of bytes, optionally with a suffix such as MB, GB or MiB", s)
	}
	b := math.Round(f * scale)
	if b > math.MaxInt64/2 {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return int64(b), nil
}

// formatBytes prints a byte count with a binary suffix.
func formatBytes(b int64) string {
	f := float64(b)
	for _, u := range []string{"B", "KiB", "MiB", "GiB", "TiB"} {
		if f < 1024 || u == "TiB" {
			if u == "B" {
				return fmt.Sprintf("%d B", b)
			}
			return fmt.Sprintf("%.1f %s", f, u)
		}
		f /= 1024
	}
	return ""
}

// shapeText describes a model's shape as the replay tables print it:
// "5 layers x 60 experts, top-4, 16.5 MiB per expert".
func shapeText(s rt.Shape) string {
	return fmt.Sprintf("%d layers x %d experts, top-%d, %s per expert", s.Layers, s.Experts, s.TopK, formatBytes(s.ExpertBytes))
}
