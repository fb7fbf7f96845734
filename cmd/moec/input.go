package main

import (
	"errors"
	"io"
	"os"
)

// The files moec reads. "-" names standard input wherever a command reads
// one policy or trace file (check, fmt, show, build, replay's policy,
// trace stats), as gofmt and most tools have it; a directory where a file
// is wanted is an error that says so.

// stdinName is the name of standard input in diagnostics, lists and diffs,
// as gofmt has it.
const stdinName = "<standard input>"

// inputName returns the name that messages give the file name: stdinName
// for "-".
func inputName(name string) string {
	if name == "-" {
		return stdinName
	}
	return name
}

// readInput returns the contents of the file name, or of standard input
// when name is "-".
func (e *env) readInput(name string) ([]byte, error) {
	r, err := e.openInput(name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// openInput opens the file name, or standard input when name is "-".
func (e *env) openInput(name string) (io.ReadCloser, error) {
	if name == "-" {
		return io.NopCloser(e.stdin), nil
	}
	return e.openFile(name)
}

// openFile opens the file name from e.files where it is set, else from
// the file system (openFile).
func (e *env) openFile(name string) (io.ReadCloser, error) {
	if e.files != nil {
		return e.files.Open(name)
	}
	return openFile(name)
}

// errIsDir is the error for a directory given where a file is wanted.
var errIsDir = errors.New("is a directory, not a file")

// openFile opens the file name for reading; a directory is an error
// (reading one fails only at the first read, with a message about a line
// of the file that is not there).
func openFile(name string) (*os.File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	if info, err := f.Stat(); err == nil && info.IsDir() {
		f.Close()
		return nil, &os.PathError{Op: "read", Path: name, Err: errIsDir}
	}
	return f, nil
}
