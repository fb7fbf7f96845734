package parser

import (
	"slices"

	"github.com/moepolicy/moec/rt"
)

// The grammar's tables — which blocks exist, which keys each takes and the
// form of each value — are rt's key table, which sema, the Go builder and
// the printers read too. The parser knows them so that it can read like
// the grammar, reject an unknown key where it is written, and
// resynchronise at the next key after an error. Whether an enum word
// means anything is not decided here but in package sema.

var blockNames = rt.Blocks()

func isBlockName(s string) bool { return slices.Contains(blockNames, s) }

// lookupKey returns the key called key in block.
func lookupKey(block, key string) (rt.KeyDef, bool) { return rt.LookupKey(block, key) }

// keyNames returns the keys of block, in table order, and "when" in an
// adapt block, which starts a rule.
func keyNames(block string) []string {
	var names []string
	for _, k := range rt.Keys(block) {
		names = append(names, k.Name)
	}
	if block == "adapt" {
		names = append(names, "when")
	}
	return names
}

// blockOfKey returns the block that takes key, if any.
func blockOfKey(key string) string {
	for _, b := range blockNames {
		if _, ok := lookupKey(b, key); ok {
			return b
		}
	}
	return ""
}
