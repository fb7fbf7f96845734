package sema_test

import (
	"testing"

	"github.com/moepolicy/moec/internal/moetest"
	"github.com/moepolicy/moec/parser"
	"github.com/moepolicy/moec/sema"
)

// BenchmarkCheck1MB parses and checks a 1 MB file of policies: what moec
// check does with it.
func BenchmarkCheck1MB(b *testing.B) {
	src := moetest.BigFile(1 << 20)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		f, diags := parser.ParseFile("big.moe", src)
		specs, more := sema.Check(f)
		if len(diags)+len(more) > 0 || len(specs) == 0 {
			b.Fatal(diags, more)
		}
	}
}
