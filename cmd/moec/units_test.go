package main

import "testing"

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "17301504", want: 17301504},
		{in: "17.3MB", want: 17300000},
		{in: "1.2GB", want: 1200000000},
		{in: "16.5MiB", want: 17301504},
		{in: "12 MiB", want: 12 << 20},
		{in: "1e3", want: 1000},
		{in: "336MiB", want: 336 << 20},
		{in: "2kB", want: 2000},
		{in: "", bad: true},
		{in: "MB", bad: true},
		{in: "-1", bad: true},
		{in: "1XB", bad: true},
		{in: "1e300GB", bad: true},
	}
	for _, tt := range tests {
		got, err := parseBytes(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("parseBytes(%q) = %d, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}
