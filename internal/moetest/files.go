package moetest

import (
	"os"
	"path/filepath"
	"testing"
)

// Files returns the contents of every file the patterns match, in
// pattern order and, within one, in name order: the seed corpora of the
// fuzz tests.
func Files(t testing.TB, patterns ...string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, pattern := range patterns {
		names, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			data, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, data)
		}
	}
	return out
}
