package parser_test

import (
	"testing"

	"github.com/moepolicy/moec/internal/moetest"
	"github.com/moepolicy/moec/parser"
)

func BenchmarkParse1MB(b *testing.B) {
	src := moetest.BigFile(1 << 20)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, diags := parser.ParseFile("big.moe", src); len(diags) > 0 {
			b.Fatal(diags)
		}
	}
}
