package lexer

import (
	"fmt"
	"sort"
)

// Pos is a compact source position: the byte offset in its file plus one.
// The zero Pos is NoPos. A Pos becomes printable only through the File it
// belongs to, the way go/token does it.
type Pos int

// NoPos is the zero Pos: no position.
const NoPos Pos = 0

// IsValid reports whether p is a position.
func (p Pos) IsValid() bool { return p != NoPos }

// Offset returns the byte offset of p in its file.
func (p Pos) Offset() int { return int(p) - 1 }

// PosOf returns the Pos of a byte offset.
func PosOf(offset int) Pos { return Pos(offset + 1) }

// Position is a printable source position.
type Position struct {
	Filename string // the file name exactly as the user gave it
	Offset   int    // byte offset, starting at 0
	Line     int    // line number, starting at 1
	Column   int    // column number in bytes, starting at 1
}

// IsValid reports whether the position has a line number.
func (p Position) IsValid() bool { return p.Line > 0 }

// String returns "file:line:col", "file:line:col" without the file when it
// has no name, or "-" when the position is not valid.
func (p Position) String() string {
	s := p.Filename
	if p.IsValid() {
		if s != "" {
			s += ":"
		}
		s += fmt.Sprintf("%d:%d", p.Line, p.Column)
	}
	if s == "" {
		s = "-"
	}
	return s
}

// File is one source file: its name, its text and a table of line starts.
type File struct {
	name  string
	src   []byte
	lines []int // offsets of the first byte of each line
}

// NewFile returns the File for src, named name.
func NewFile(name string, src []byte) *File {
	f := &File{name: name, src: src, lines: []int{0}}
	for i, c := range src {
		if c == '\n' {
			f.lines = append(f.lines, i+1)
		}
	}
	return f
}

// Name returns the file name as given to NewFile.
func (f *File) Name() string { return f.name }

// Src returns the file's text.
func (f *File) Src() []byte { return f.src }

// Size returns the length of the file in bytes.
func (f *File) Size() int { return len(f.src) }

// Pos returns the Pos of a byte offset, clamped to the file.
func (f *File) Pos(offset int) Pos {
	offset = max(0, min(offset, len(f.src)))
	return PosOf(offset)
}

// Position returns the printable position of p. An invalid p gives a
// Position with only the file name.
func (f *File) Position(p Pos) Position {
	if !p.IsValid() {
		return Position{Filename: f.name}
	}
	off := max(0, min(p.Offset(), len(f.src)))
	i := sort.Search(len(f.lines), func(i int) bool { return f.lines[i] > off }) - 1
	return Position{Filename: f.name, Offset: off, Line: i + 1, Column: off - f.lines[i] + 1}
}

// Line returns the line number of p.
func (f *File) Line(p Pos) int { return f.Position(p).Line }
