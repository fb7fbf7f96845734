package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"

	"github.com/moepolicy/moec/rt"
)

// sizeUnits are the units a size is written with, matched in any case:
// decimal (powers of 1000, as GPU makers and the language's GB keys
// count) and binary (powers of 1024, as memory is allocated). Every flag
// that takes a size (-vram, -expert-bytes, run's -gpu-mem) reads it with
// parseBytes, so they all accept the same words.
var sizeUnits = []struct {
	name  string
	scale float64
}{
	{"B", 1},
	{"kB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
}

// sizeWant says what a size must look like, for errors.
var sizeWant = func() string {
	names := make([]string, len(sizeUnits))
	for i, u := range sizeUnits {
		names[i] = u.name
	}
	return "want a number above 0 and a unit: " + strings.Join(names, ", ") +
		" (in any case; GB is 10^9 bytes, GiB 2^30), as in 16GiB or 17.3MB"
}()

// parseBytes reads a size: a number above 0 and a unit, as in 17.3MB,
// 1.2gb, 16.5 MiB or 24GiB. A bare number is refused: whether 24 means
// bytes or GiB is exactly the mistake the unit prevents.
func parseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.LastIndexFunc(t, func(r rune) bool { return !unicode.IsLetter(r) }) + 1
	num, unit := strings.TrimSpace(t[:i]), t[i:]
	switch {
	case num == "":
		return 0, fmt.Errorf("invalid size %q: %s", s, sizeWant)
	case unit == "":
		return 0, fmt.Errorf("size %q has no unit: %s", s, sizeWant)
	}
	scale := 0.0
	for _, u := range sizeUnits {
		if strings.EqualFold(unit, u.name) {
			scale = u.scale
			break
		}
	}
	if scale == 0 {
		return 0, fmt.Errorf("size %q has an unknown unit %q: %s", s, unit, sizeWant)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || !(f > 0) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("invalid size %q: %s", s, sizeWant)
	}
	b := math.Round(f * scale)
	switch {
	case b < 1:
		return 0, fmt.Errorf("invalid size %q: less than 1 byte", s)
	case b > math.MaxInt64/2:
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
