package rt_test

import (
	"testing"

	"github.com/moepolicy/moec/internal/moetest"
)

// TestStandardLibraryOnly checks that rt imports nothing outside the
// standard library and has no cgo: a program that runs generated policies
// links rt and nothing of the compiler.
func TestStandardLibraryOnly(t *testing.T) {
	moetest.Dependencies(t, "github.com/moepolicy/moec/rt")
}
