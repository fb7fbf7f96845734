package main

import (
	"strings"
	"testing"
)

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		bad  string // a fragment of the error
	}{
		{in: "17301504B", want: 17301504},
		{in: "17.3MB", want: 17300000},
		{in: "1.2GB", want: 1200000000},
		{in: "16.5MiB", want: 17301504},
		{in: "12 MiB", want: 12 << 20},
		{in: "1e3B", want: 1000},
		{in: "336MiB", want: 336 << 20},
		{in: "2kB", want: 2000},
		{in: "2KB", want: 2000},
		// Any case: 24gb and 24GB are the same size, as are 24GIB and 24GiB.
		{in: "24gb", want: 24e9},
		{in: "24Gb", want: 24e9},
		{in: "24GB", want: 24e9},
		{in: "24gib", want: 24 << 30},
		{in: "24GIB", want: 24 << 30},
		{in: "1tib", want: 1 << 40},
		{in: "24", bad: `size "24" has no unit: want a number above 0 and a unit: B, kB, MB, GB, TB, KiB, MiB, GiB, TiB`},
		{in: "1e3", bad: "has no unit"},
		{in: "24G", bad: `size "24G" has an unknown unit "G": want`},
		{in: "1XB", bad: "unknown unit"},
		{in: "", bad: "invalid size"},
		{in: "lots", bad: "invalid size"},
		{in: "MB", bad: "invalid size"},
		{in: "-1GB", bad: "invalid size"},
		{in: "0GiB", bad: "invalid size"},
		{in: "0.1B", bad: "less than 1 byte"},
		{in: "NaNGB", bad: "want a number above 0"},
		{in: "InfGB", bad: "want a number above 0"},
		{in: "+InfGB", bad: "want a number above 0"},
		{in: "1e300GB", bad: "too large"},
	}
	for _, tt := range tests {
		got, err := parseBytes(tt.in)
		if tt.bad != "" {
			if err == nil || !strings.Contains(err.Error(), tt.bad) {
				t.Errorf("parseBytes(%q) = %d, %v; want an error containing %q", tt.in, got, err, tt.bad)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}
