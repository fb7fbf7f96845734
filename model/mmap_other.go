//go:build !unix

package model

import (
	"errors"
	"os"
)

// mapFile reads a file: this system has no syscall.Mmap.
func mapFile(f *os.File, size int64) (data []byte, mapped bool, err error) {
	b, err := readAll(f, size)
	return b, false, err
}

func unmapFile([]byte) error { return errors.New("no mapped files on this system") }
