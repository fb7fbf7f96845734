package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// The files moec writes: -o, -decisions, -plot and fmt -w all go through
// an output, opened before the work starts so that a path that cannot be
// written fails at once, and complete or not there at all when moec ends.

// An output is where a command writes its result: standard output, or a
// file. A regular file, or a new one, is written to a temporary file
// beside it, synced and renamed into place by Commit, so that a failed or
// interrupted run leaves an existing file as it was and no stray file; the
// new file keeps the old one's permissions (a new one gets 0644), and a
// symbolic link stays a link: the file it points to is replaced. A device,
// a pipe or another file that is not regular is written directly, as a
// shell's redirection writes it: replacing /dev/null with a regular file
// would break the system.
//
// Errors name the path as the user wrote it, never the temporary file.
type output struct {
	w      io.Writer // standard output, or file
	file   *os.File  // nil for standard output
	path   string    // as the user wrote it; "" for standard output
	target string    // path with its symbolic links followed
	temp   bool      // file is a temporary file that Commit renames onto target
	done   bool      // committed or aborted
	in     *interrupt
}

// newFileMode is the mode of a file moec creates, before the umask.
const newFileMode = 0o644

// createOutput opens the output that a flag such as -o names: standard
// output when path is "", else the file path, which must not be one of
// inputs (the files the command reads; "" and "-" are skipped). It
// reports a failure and returns nil with the exit status: exitUsage when
// the output would overwrite an input, exitError when it cannot be
// written. The caller must Commit or Abort it.
func (e *env) createOutput(flag, path string, inputs ...string) (*output, int) {
	if path == "" {
		return &output{w: e.stdout}, exitOK
	}
	for _, in := range inputs {
		if in != "" && in != "-" && sameRegularFile(path, in) {
			if filepath.Clean(in) == filepath.Clean(path) {
				e.errorf("%s %s is also an input: moec does not write over a file it reads", flag, path)
			} else {
				e.errorf("%s %s is the input %s: moec does not write over a file it reads", flag, path, in)
			}
			return nil, exitUsage
		}
	}
	o, err := openOutput(path, e.interrupt)
	if err != nil {
		e.errorf("%v", err)
		return nil, exitError
	}
	return o, exitOK
}

// sameRegularFile reports whether out and in are the same regular file.
// Two names of one device (/dev/stdout and /dev/stdin on a terminal) are
// not a clash: writing one does not destroy the other.
func sameRegularFile(out, in string) bool {
	oi, err := os.Stat(out)
	if err != nil || !oi.Mode().IsRegular() {
		return false
	}
	ii, err := os.Stat(in)
	return err == nil && os.SameFile(oi, ii)
}

// openOutput opens the file path for writing, as output describes; in
// records its temporary file, if any, to be removed on an interrupt.
func openOutput(path string, in *interrupt) (*output, error) {
	target, err := followLinks(path)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	o := &output{path: path, target: target, in: in}
	info, err := os.Stat(target)
	switch {
	case err == nil && info.IsDir():
		return nil, &os.PathError{Op: "open", Path: path, Err: errors.New("is a directory")}
	case err == nil && !info.Mode().IsRegular():
		f, err := os.OpenFile(target, os.O_WRONLY, 0)
		if err != nil {
			return nil, o.wrap("open", err)
		}
		o.file, o.w = f, f
		return o, nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, o.wrap("open", err)
	}
	perm := fs.FileMode(newFileMode)
	if info != nil {
		perm = info.Mode().Perm()
	}
	// The leading period keeps the temporary file out of directory walks
	// (fmt's and check's) and out of a glob of the real files.
	f, err := in.createTemp(filepath.Dir(target), "."+filepath.Base(target)+".tmp*")
	if err != nil {
		return nil, o.wrap("open", err)
	}
	o.file, o.w, o.temp = f, f, true
	if err := f.Chmod(perm); err != nil {
		o.Abort()
		return nil, o.wrap("open", err)
	}
	return o, nil
}

// maxLinks bounds the symbolic links followLinks follows, as Linux's
// ELOOP does.
const maxLinks = 40

// followLinks returns the file that path names once the symbolic links
// of its last element are followed: the file that writing through path
// changes. A link to a file that does not exist yet gives that file's
// name.
func followLinks(path string) (string, error) {
	for range maxLinks {
		info, err := os.Lstat(path)
		if err != nil || info.Mode()&fs.ModeSymlink == 0 {
			return path, nil // a missing file is created; other errors show when it is opened
		}
		link, err := os.Readlink(path)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(link) {
			link = filepath.Join(filepath.Dir(path), link)
		}
		path = link
	}
	return "", errors.New("too many levels of symbolic links")
}

// wrap returns err, the failure of op, naming the user's path instead of
// the file that failed (the temporary file, or a link's target).
func (o *output) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &os.PathError{Op: op, Path: o.path, Err: err}
}

// Write writes to the output.
func (o *output) Write(p []byte) (int, error) {
	n, err := o.w.Write(p)
	if err != nil && o.file != nil {
		err = o.wrap("write", err)
	}
	return n, err
}

// Commit finishes the output: it syncs a temporary file and renames it
// onto the target, or closes a file written directly.
func (o *output) Commit() error {
	if o.done || o.file == nil {
		o.done = true
		return nil
	}
	o.done = true
	if !o.temp {
		return o.wrap("close", o.file.Close())
	}
	err := o.file.Sync()
	if cerr := o.file.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = o.in.rename(o.file.Name(), o.target)
	}
	if err != nil {
		o.in.remove(o.file.Name())
		return o.wrap("write", err)
	}
	return nil
}

// Abort ends an output that was not committed: a temporary file is
// removed, and a file written directly is closed.
func (o *output) Abort() {
	if o.done || o.file == nil {
		return
	}
	o.done = true
	o.file.Close()
	if o.temp {
		o.in.remove(o.file.Name())
	}
}

// finish writes data to o and commits it, or reports why it could not
// and aborts it; it returns the exit status.
func (e *env) finish(o *output, data []byte) int {
	if _, err := o.Write(data); err != nil {
		o.Abort()
		e.errorf("%v", err)
		return exitError
	}
	if err := o.Commit(); err != nil {
		e.errorf("%v", err)
		return exitError
	}
	return exitOK
}

// writeAll writes b to w, reporting a failure (a closed pipe, a full
// disk) once.
func (e *env) writeAll(w io.Writer, b []byte) bool {
	if _, err := w.Write(b); err != nil {
		e.errorf("%v", err)
		return false
	}
	return true
}

// printTo runs print, which writes a table or a report, into memory and
// then writes what it printed to standard output, so that a write error
// (a full disk, a closed pipe) is reported once and gives exit status 1.
func (e *env) printTo(print func(w io.Writer)) int {
	var b bytes.Buffer
	print(&b)
	if !e.writeAll(e.stdout, b.Bytes()) {
		return exitError
	}
	return exitOK
}

// printJSON prints v on standard output as one indented JSON value, with
// "<", ">" and "&" as they are (messages and conditions hold them), and
// returns the exit status.
func (e *env) printJSON(v any) int {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		e.errorf("%v", err)
		return exitError
	}
	if !e.writeAll(e.stdout, b.Bytes()) {
		return exitError
	}
	return exitOK
}
