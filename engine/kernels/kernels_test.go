package kernels

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestFatbinCurrent fails when a CUDA source changed after the fatbin was
// built.
func TestFatbinCurrent(t *testing.T) {
	var names []string
	for _, pat := range []string{"*.cu", "*.cuh", "*.h"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, m...)
	}
	slices.Sort(names)
	h := sha256.New()
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		h.Write(b)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sourcesSHA256 {
		t.Errorf("kernels.fatbin is stale: the sources hash to %s, the fatbin was built from %s; run scripts/kernels.sh", got, sourcesSHA256)
	}
	if len(Fatbin) == 0 {
		t.Error("kernels.fatbin is empty")
	}
}
