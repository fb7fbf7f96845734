package main

import (
	"go/parser"
	"go/token"
	"strings"
	"testing"
)

// docSection is how doc.go documents command c: a heading, the usage line
// and what "moec help NAME" prints.
func docSection(c *command) string {
	return "# " + strings.ToUpper(c.short[:1]) + c.short[1:] + "\n\nUsage:\n\n\t" + c.usage() + "\n\n" + c.long + "\n"
}

// TestDoc checks that the package documentation in doc.go says what
// "moec help" says: the overview, and each command's usage and
// description.
func TestDoc(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "doc.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	doc := f.Doc.Text()

	var overview strings.Builder
	e := &env{commands: []*command{checkCommand, fmtCommand, showCommand, versionCommand, helpCommand}}
	e.mainUsage(&overview)
	want := []string{overview.String()}
	for _, c := range e.commands {
		if c != helpCommand {
			want = append(want, docSection(c))
		}
	}
	for _, w := range want {
		if !strings.Contains(doc, w) {
			t.Errorf("doc.go does not contain, as a doc comment:\n%s", w)
		}
	}
}
