package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/moepolicy/moec/ast"
	"github.com/moepolicy/moec/internal/diff"
	"github.com/moepolicy/moec/parser"
)

var fmtCommand = &command{
	name:      "fmt",
	usageLine: "[-d] [-l] [-w] [path...]",
	short:     "format .moe files",
	long: `Fmt formats .moe files in moec's one canonical layout, the way gofmt
formats Go: four spaces per level, one item per line, single spaces around
operators, literals and comments kept as written.

Without a path, or with "-", fmt formats standard input and prints the
result on standard output. Given a file, it formats that file; given a directory,
every .moe file under it, leaving out names that start with a period. By
default, fmt prints the formatted text on standard output.

Fmt reads syntax only: it does not check policies (moec check does). A
file with syntax errors is left untouched; its errors are printed on
standard error as moec check prints them, and fmt exits with status 1.

The flags are:

	-d
		Do not print formatted text to standard output. If a file's
		formatting differs from fmt's, print a unified diff of the
		change to standard output.
	-l
		Do not print formatted text to standard output. If a file's
		formatting differs from fmt's, print its name to standard
		output.
	-w
		Do not print formatted text to standard output. If a file's
		formatting differs from fmt's, overwrite it with fmt's version,
		keeping its permissions. The new text is written to a temporary
		file in the same directory and renamed over the old one, so an
		error never leaves a file half written; a file that is already
		formatted is not written at all.`,
	run: runFmt,
}

// fmtFlags are fmt's flags.
type fmtFlags struct {
	diff, list, write bool
}

func runFmt(e *env, c *command, args []string) int {
	fs := e.flagSet(c)
	var fl fmtFlags
	fs.BoolVar(&fl.diff, "d", false, "print diffs instead of formatted text")
	fs.BoolVar(&fl.list, "l", false, "list files whose formatting differs")
	fs.BoolVar(&fl.write, "w", false, "write the formatted text back to the file")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}

	if fs.NArg() == 0 || fs.NArg() == 1 && fs.Arg(0) == "-" {
		if fl.write {
			fmt.Fprintln(e.stderr, "moec fmt: cannot use -w with standard input")
			return exitUsage
		}
		src, err := io.ReadAll(e.stdin)
		if err != nil {
			e.errorf("%v", err)
			return exitError
		}
		return e.formatFile(stdinName, src, fl)
	}

	status := exitOK
	e.eachFile(fs.Args(), &status, func(name string) {
		src, err := readRegular(name)
		if err != nil {
			e.errorf("%v", err)
			status = exitError
			return
		}
		if st := e.formatFile(name, src, fl); st != exitOK {
			status = st
		}
	})
	return status
}

// formatFile formats src, read from name, and does with the result what
// the flags say.
func (e *env) formatFile(name string, src []byte, fl fmtFlags) int {
	f, diags := parser.ParseFile(name, src)
	if len(diags) > 0 {
		e.printDiagnostics(diags)
		return exitError
	}
	out := ast.Format(f)
	if !bytes.Equal(src, out) {
		if fl.list {
			if !e.writeAll(e.stdout, []byte(name+"\n")) {
				return exitError
			}
		}
		if fl.write {
			o, err := openOutput(name, e.interrupt)
			if err != nil {
				e.errorf("%v", err)
				return exitError
			}
			if st := e.finish(o, out); st != exitOK {
				return st
			}
		}
		if fl.diff {
			if !e.writeAll(e.stdout, diff.Unified(filepath.ToSlash(name), src, out)) {
				return exitError
			}
		}
	}
	if !fl.list && !fl.write && !fl.diff {
		if !e.writeAll(e.stdout, out) {
			return exitError
		}
	}
	return exitOK
}

// readRegular returns the contents of the file name, which must be a
// regular file: like gofmt, fmt reads a device or a pipe only as standard
// input, without a path.
func readRegular(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", name)
	}
	return io.ReadAll(f)
}
