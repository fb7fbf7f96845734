package model_test

import (
	"testing"

	"github.com/moepolicy/moec/internal/moetest"
)

// TestDependencies checks that model is pure Go on the standard library:
// cudart (behind cgo) and the engine read checkpoints through it, and so
// does moec auto, so it must not bring either a C toolchain or the
// compiler's packages. internal/spell, itself standard-library only,
// suggests model types.
func TestDependencies(t *testing.T) {
	moetest.Dependencies(t, "github.com/moepolicy/moec/model", "github.com/moepolicy/moec/internal/spell")
}
