package lexer

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestBOM checks that a byte order mark that starts a file is skipped, as
// gofmt skips it (it was an unexpected character U+FEFF), and that one
// anywhere else is still an error.
func TestBOM(t *testing.T) {
	toks, errs := scanAll("\uFEFFpolicy p")
	if diff := cmp.Diff([]string{"3 IDENT policy", "10 IDENT p"}, toks); diff != "" || errs != nil {
		t.Errorf("a leading BOM: tokens (-want +got):\n%s\nerrors: %v", diff, errs)
	}
	if _, errs := scanAll("policy \uFEFFp"); len(errs) != 1 {
		t.Errorf("a BOM inside the file: errors %v, want one", errs)
	}
}
