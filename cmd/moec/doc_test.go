package main

import (
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// docExit closes the package documentation; the rest is what "moec help"
// prints.
const docExit = `# Exit status

Every command exits with status 0 when all went well, 1 when a file has
errors or cannot be read or written, and 2 when moec is used wrongly: an
unknown command or flag, or a missing argument. Usage errors print the
command's usage line on standard error.
`

// docSection is the part of the package documentation about c.
func docSection(c *command) string {
	return "# " + strings.ToUpper(c.short[:1]) + c.short[1:] + "\n\nUsage:\n\n\t" + c.usage() + "\n\n" + c.long + "\n"
}

// docText is the package documentation doc.go must hold: the overview
// and each command's usage and description, as "moec help" prints them.
func docText() string {
	var b strings.Builder
	e := &env{commands: commands()}
	e.mainUsage(&b)
	for _, c := range e.commands {
		if c != helpCommand {
			b.WriteString("\n" + docSection(c))
		}
	}
	b.WriteString("\n" + docExit)
	return b.String()
}

// TestDoc checks that doc.go says what "moec help" says; with -update it
// rewrites doc.go.
func TestDoc(t *testing.T) {
	want := docText()
	if *update {
		var src strings.Builder
		for _, line := range strings.Split(strings.TrimSuffix(want, "\n"), "\n") {
			switch {
			case line == "":
				src.WriteString("//\n")
			case strings.HasPrefix(line, "\t"):
				src.WriteString("//" + line + "\n")
			default:
				src.WriteString("// " + line + "\n")
			}
		}
		src.WriteString("package main\n")
		if err := os.WriteFile("doc.go", []byte(src.String()), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	f, err := parser.ParseFile(token.NewFileSet(), "doc.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Doc.Text(); got != want {
		t.Errorf("doc.go differs from what moec help prints; run go test ./cmd/moec -run TestDoc -update\n--- doc.go\n%s\n--- help\n%s", got, want)
	}
}
