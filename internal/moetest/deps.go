package moetest

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// Dependencies fails t unless the package in the current directory
// imports, outside the standard library, only itself and allowed (import
// paths), and has no cgo files: the runtime and the checkpoint reader are
// linked into programs that must not bring the compiler or a C toolchain.
func Dependencies(t *testing.T, self string, allowed ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep != self && !slices.Contains(allowed, dep) {
			t.Errorf("%s depends on %s", self, dep)
		}
	}
	out, err = exec.Command("go", "list", "-f", "{{.CgoFiles}}", ".").Output()
	if err != nil || strings.TrimSpace(string(out)) != "[]" {
		t.Errorf("%s has cgo files: %s %v", self, out, err)
	}
}
