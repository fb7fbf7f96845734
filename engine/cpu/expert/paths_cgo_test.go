//go:build cgo && amd64 && linux

package expert

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// TestCPathsOffered checks that kernels.c offers the C path of each
// instruction set the kernel reports usable (/proc/cpuinfo's flags): a
// broken detection would leave every Run on the Go path with every other
// test passing.
func TestCPathsOffered(t *testing.T) {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Skipf("no CPU flags to check against: %v", err)
	}
	var flags []string
	for line := range strings.Lines(string(b)) {
		if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "flags" {
			flags = strings.Fields(value)
			break
		}
	}
	paths := NewWorkspace(1).paths
	for _, c := range []struct {
		flags []string
		p     path
	}{{[]string{"avx2", "f16c"}, pathAVX2}, {[]string{"avx512f", "f16c"}, pathAVX512}} {
		have := true
		for _, f := range c.flags {
			have = have && slices.Contains(flags, f)
		}
		if have != slices.Contains(paths, c.p) {
			t.Errorf("CPU flags %v: %v, but the paths offered are %v", c.flags, have, paths)
		}
	}
}
