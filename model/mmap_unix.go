//go:build unix

package model

import (
	"os"
	"syscall"
)

// mapFile maps a file read-only, or reads it when it cannot be mapped.
func mapFile(f *os.File, size int64) (data []byte, mapped bool, err error) {
	if size > 0 && size == int64(int(size)) {
		b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
		if err == nil {
			return b, true, nil
		}
	}
	b, err := readAll(f, size)
	return b, false, err
}

func unmapFile(b []byte) error { return syscall.Munmap(b) }
