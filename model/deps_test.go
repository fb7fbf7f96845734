package model_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies checks that model is pure Go on the standard library:
// cudart (behind cgo) and the engine read checkpoints through it, and so
// does moec auto, so it must not bring either a C toolchain or the
// compiler's packages. internal/spell, itself standard-library only,
// suggests model types.
func TestDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep != "github.com/moepolicy/moec/model" && dep != "github.com/moepolicy/moec/internal/spell" {
			t.Errorf("model depends on %s", dep)
		}
	}
	out, err = exec.Command("go", "list", "-f", "{{.CgoFiles}}", ".").Output()
	if err != nil || strings.TrimSpace(string(out)) != "[]" {
		t.Errorf("model has cgo files: %s %v", out, err)
	}
}
