package rt_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestStandardLibraryOnly checks that rt imports nothing outside the
// standard library: a program that runs generated policies links rt and
// nothing of the compiler.
func TestStandardLibraryOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep != "github.com/moepolicy/moec/rt" {
			t.Errorf("rt depends on %s", dep)
		}
	}
}
