package main

import (
	"os"
	"path/filepath"

	"github.com/moepolicy/moec/internal/chart"
)

// atomicFile is an output file written to a temporary file in the same
// folder and renamed into place on Commit, so that a failed run leaves no
// half-written file and does not truncate an existing one.
type atomicFile struct {
	*os.File
	path string
	done bool
}

// createAtomic starts writing path. The file gets the usual mode of a new
// file (0644): the temporary file it starts as would be private.
func createAtomic(path string) (*atomicFile, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &atomicFile{File: f, path: path}, nil
}

// Commit closes the file and moves it into place.
func (f *atomicFile) Commit() error {
	f.done = true
	err := f.Close()
	if err == nil {
		err = os.Rename(f.Name(), f.path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// Abort removes the temporary file unless it was committed.
func (f *atomicFile) Abort() {
	if !f.done {
		f.Close()
		os.Remove(f.Name())
	}
}

// writeFileAtomic replaces path with data, whole or not at all.
func writeFileAtomic(path string, data []byte) error {
	f, err := createAtomic(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Commit()
}

// writePicture writes the picture that draw makes in the format of path's
// extension (svg or png) to path, whole or not at all.
func writePicture(path string, draw func(format string) ([]byte, error)) error {
	format, err := chart.Format(path)
	if err != nil {
		return err
	}
	data, err := draw(format)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, data)
}
