// The golden tests of package sema.
//
// Every file testdata/*.moe is parsed and checked, and its diagnostics,
// the parser's and sema's, are compared with annotations written in the
// file itself. An annotation is a comment at the end of the line the
// diagnostic is on:
//
//	cache { capacity = 0 }   # ERROR 20 "out of range .*rule 1"
//
// "ERROR col regexp" expects a diagnostic on this line at column col (in
// bytes, from 1) whose text matches regexp. The text matched is the
// message followed by the rule code in brackets:
//
//	cache capacity 0 is out of range [1, 65536] (rule 1) [R1]
//
// so an annotation can pin the code with "\[M3\]". The regexp is written
// between double quotes, or between backquotes when it contains a double
// quote; it is taken as it stands (no escapes). A line may carry several
// annotations: "# ERROR 5 "a" ERROR 20 "b"". Every diagnostic must match an
// annotation and every annotation a diagnostic, so a file without
// annotations must check clean. Related positions are not annotated; the
// Go tests check them.
//
// This is the convention of Go's own test/ directory and go/types
// testdata, moved to .moe comments.
package sema

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/moepolicy/moec/diag"
	"github.com/moepolicy/moec/parser"
	"github.com/moepolicy/moec/rt"
)

// annotation is one expected diagnostic.
type annotation struct {
	line, col int
	re        *regexp.Regexp
	matched   bool
}

var annotationRE = regexp.MustCompile("ERROR ([0-9]+) (\"[^\"]*\"|`[^`]*`)")

// annotations reads the annotations of src.
func annotations(t *testing.T, src string) []*annotation {
	t.Helper()
	var list []*annotation
	for i, line := range strings.Split(src, "\n") {
		at := strings.Index(line, "# ERROR ")
		if at < 0 {
			continue
		}
		rest := line[at+1:]
		ms := annotationRE.FindAllStringSubmatch(rest, -1)
		if len(ms) == 0 || strings.Count(rest, "ERROR ") != len(ms) {
			t.Fatalf("line %d: malformed annotation %q", i+1, rest)
		}
		for _, m := range ms {
			col, _ := strconv.Atoi(m[1])
			re, err := regexp.Compile(m[2][1 : len(m[2])-1])
			if err != nil {
				t.Fatalf("line %d: %v", i+1, err)
			}
			list = append(list, &annotation{line: i + 1, col: col, re: re})
		}
	}
	return list
}

// checkSource parses and checks src and returns every diagnostic, sorted.
func checkSource(name string, src []byte) ([]*rt.Spec, diag.Diagnostics) {
	f, diags := parser.ParseFile(name, src)
	specs, more := Check(f)
	diags = append(diags, more...)
	diags.Sort()
	return specs, diags
}

func diagText(d *diag.Diagnostic) string { return fmt.Sprintf("%s [%s]", d.Msg, d.Rule) }

func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.moe"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/*.moe files")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			want := annotations(t, string(src))
			_, diags := checkSource(file, src)
		diag:
			for _, d := range diags {
				for _, a := range want {
					if !a.matched && a.line == d.Pos.Line && a.col == d.Pos.Column && a.re.MatchString(diagText(d)) {
						a.matched = true
						continue diag
					}
				}
				t.Errorf("%s: unexpected diagnostic: %s", d.Pos, diagText(d))
			}
			for _, a := range want {
				if !a.matched {
					t.Errorf("%s:%d:%d: no diagnostic matching %q", file, a.line, a.col, a.re)
				}
			}
		})
	}
}
