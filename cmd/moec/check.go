package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/moepolicy/moec/diag"
	"github.com/moepolicy/moec/parser"
	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/sema"
)

var checkCommand = &command{
	name:      "check",
	usageLine: "[-json] path...",
	short:     "report every error in .moe files",
	long: `Check parses and checks the named .moe files and reports every error in
them: syntax errors, structural errors (a missing cache block, a duplicate
key, an unknown word) and every rule a policy breaks. A directory stands
for every .moe file under it, and "-" for standard input. File names
need not end in .moe.

When every file is valid, check prints nothing and exits with status 0.
Otherwise it prints each diagnostic on standard error as

	file:line:column: message

with the file name as given, files in the order given and the diagnostics
of a file sorted by position, and exits with status 1. A diagnostic that
points at a second place, such as the first of two duplicate keys, is
followed by that place on a line that starts with a tab.

A file that cannot be read is reported on standard error; the other files
are still checked, and check exits with status 1.

The flags are:

	-json
		Print the diagnostics on standard output as one JSON array, for
		editors and other tools, instead of on standard error. Each
		element has the fields "file", "line", "column", "end" (an
		object with "line" and "column", left out when the end is not
		known), "message", "rule" (what was checked: "syntax",
		"structure", "R1" to "R20" for the reference's rules, "M1" and
		up for moec's own; docs/LANGUAGE.md lists them) and "related"
		(the second places, each with "file", "line", "column" and
		"message"; left out when there are none). When every file is
		valid the array is empty: [].`,
	run: runCheck,
}

func runCheck(e *env, c *command, args []string) int {
	fs := e.flagSet(c)
	jsonOut := fs.Bool("json", false, "print diagnostics as JSON on standard output")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() == 0 {
		return e.usageError(c)
	}
	status := exitOK
	all := []jsonDiagnostic{} // [] rather than null when there are none
	e.eachFile(fs.Args(), &status, func(name string) {
		src, err := e.readInput(name)
		if err != nil {
			e.errorf("%v", err)
			status = exitError
			return
		}
		_, diags := checkSource(inputName(name), src)
		if len(diags) == 0 {
			return
		}
		status = exitError
		if *jsonOut {
			for _, d := range diags {
				all = append(all, toJSON(d))
			}
			return
		}
		e.printDiagnostics(diags)
	})
	if *jsonOut {
		if st := e.printJSON(all); st != exitOK {
			return st
		}
	}
	return status
}

// checkSource parses and checks one file. The diagnostics are the
// parser's and sema's together, sorted by position; sema runs even after
// syntax errors (it skips what the parser could not read), so that one run
// reports every error. The specs are meaningful only without diagnostics.
func checkSource(name string, src []byte) ([]*rt.Spec, diag.Diagnostics) {
	f, diags := parser.ParseFile(name, src)
	specs, more := sema.Check(f)
	diags = append(diags, more...)
	diags.Sort()
	return specs, diags
}

// printDiagnostics prints diags on standard error, one per line, each
// related place on a following line indented by a tab.
func (e *env) printDiagnostics(diags diag.Diagnostics) {
	for _, d := range diags {
		fmt.Fprintln(e.stderr, d.Error())
	}
}

// eachFile calls do for every file that paths name: a file as given, a
// directory as every .moe file under it, in lexical order, leaving out
// names that start with a period. A path that cannot be walked is
// reported and sets *status to exitError.
func (e *env) eachFile(paths []string, status *int, do func(name string)) {
	for _, path := range paths {
		info, err := os.Stat(path)
		if err != nil || !info.IsDir() {
			// Let do report a file that cannot be read, the same way
			// whether it is missing or unreadable.
			do(path)
			continue
		}
		err = filepath.WalkDir(path, func(name string, d fs.DirEntry, err error) error {
			if err != nil {
				e.errorf("%v", err)
				*status = exitError
				return nil
			}
			if !d.IsDir() && isMoeFile(d.Name()) {
				do(name)
			}
			return nil
		})
		if err != nil {
			e.errorf("%v", err)
			*status = exitError
		}
	}
}

// isMoeFile reports whether a file found in a directory is a policy file.
func isMoeFile(base string) bool {
	return strings.HasSuffix(base, ".moe") && !strings.HasPrefix(base, ".")
}

// jsonDiagnostic is the form of one diagnostic in "moec check -json".
type jsonDiagnostic struct {
	File    string        `json:"file"`
	Line    int           `json:"line"`
	Column  int           `json:"column"`
	End     *jsonPosition `json:"end,omitempty"`
	Message string        `json:"message"`
	Rule    string        `json:"rule"`
	Related []jsonRelated `json:"related,omitempty"`
}

type jsonPosition struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

type jsonRelated struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
}

func toJSON(d *diag.Diagnostic) jsonDiagnostic {
	j := jsonDiagnostic{
		File:    d.Pos.Filename,
		Line:    d.Pos.Line,
		Column:  d.Pos.Column,
		Message: d.Msg,
		Rule:    d.Rule,
	}
	if d.End.IsValid() {
		j.End = &jsonPosition{Line: d.End.Line, Column: d.End.Column}
	}
	for _, r := range d.Related {
		j.Related = append(j.Related, jsonRelated{
			File:    r.Pos.Filename,
			Line:    r.Pos.Line,
			Column:  r.Pos.Column,
			Message: r.Msg,
		})
	}
	return j
}
