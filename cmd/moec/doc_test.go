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
const docExit = `# Output files

Every file a command writes (-o, -decisions, -plot, fmt -w) is checked
before the work starts, so that a path that cannot be written fails at
once, naming the path. It is written to a temporary file beside it and
renamed into place once complete, so that a failed or interrupted run
leaves an existing file as it was; the file keeps its permissions, and a
symbolic link stays a link to the file written. A device or a named pipe
(/dev/stdout, /dev/null) is written directly. An output may not be one of
the command's inputs.

# Exit status

Every command exits with status 0 when all went well, 1 when a file has
errors or cannot be read or written, and 2 when moec is used wrongly: an
unknown command or flag, a missing argument, or an output file that is
also an input. Usage errors print the command's usage line on standard
error.

An interrupt (Ctrl-C) or SIGTERM ends moec with status 130 or 143 (128 +
the signal's number), after it removes the temporary file of any output
not yet written in full: an output file is replaced only when it is
complete. Tune stops at the first interrupt and prints the ranking of the
configurations it has replayed; a second one ends it at once.
`

// docSection is the part of the package documentation about c.
func docSection(c *command) string {
	return "# " + strings.ToUpper(c.short[:1]) + c.short[1:] + "\n\nUsage:\n\n\t" + c.usage() + "\n\n" + c.help() + "\n"
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
		for _, sub := range c.subcommands {
			b.WriteString("\n" + docSection(sub))
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
