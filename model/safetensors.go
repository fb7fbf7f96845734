package model

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
)

// A DType is a safetensors element type, as a header names it: "BF16",
// "F32", "I64", ...
type DType string

// dtypeBits are the bits of one element of each dtype the safetensors
// format defines.
var dtypeBits = map[DType]int64{
	"BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8,
	"F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
	"I16": 16, "U16": 16, "F16": 16, "BF16": 16,
	"I32": 32, "U32": 32, "F32": 32,
	"I64": 64, "U64": 64, "F64": 64, "C64": 64,
}

// Bits returns the bits of one element of d, and whether d is a dtype of
// the safetensors format.
func (d DType) Bits() (int, bool) {
	b, ok := dtypeBits[d]
	return int(b), ok
}

// maxHeader bounds a header, as the safetensors library does.
const maxHeader = 100 << 20

// A file is one safetensors file, mapped into memory (or read, where it
// cannot be mapped): an 8-byte little-endian header length, a JSON header
// mapping each tensor's name to its dtype, shape and data offsets, then
// the data, which the tensors tile exactly.
type file struct {
	name   string // as given
	data   []byte // the whole file; nil once closed
	mapped bool
	base   int64 // where the data starts: 8 + header length
}

// openFile maps a file and reads its header.
func openFile(name string) (*file, []*Tensor, error) {
	fh, err := os.Open(name)
	if err != nil {
		return nil, nil, fmt.Errorf("safetensors: %v", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("safetensors: %v", err)
	}
	if !st.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("safetensors: %s: not a regular file", name)
	}
	data, mapped, err := mapFile(fh, st.Size())
	if err != nil {
		return nil, nil, fmt.Errorf("safetensors: %s: %v", name, err)
	}
	f := &file{name: name, data: data, mapped: mapped}
	ts, err := f.parse()
	if err != nil {
		f.close()
		return nil, nil, err
	}
	return f, ts, nil
}

// readAll reads a whole file, for systems (or files) that cannot be
// mapped. size is the file's, from Stat: what the file itself holds.
func readAll(f *os.File, size int64) ([]byte, error) {
	if size != int64(int(size)) {
		return nil, fmt.Errorf("%d bytes do not fit in memory here", size)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, err
	}
	return b, nil
}

func (f *file) close() error {
	data, mapped := f.data, f.mapped
	f.data, f.mapped = nil, false
	if mapped {
		return unmapFile(data)
	}
	return nil
}

func (f *file) errorf(format string, args ...any) error {
	return fmt.Errorf("safetensors: %s: %s", f.name, fmt.Sprintf(format, args...))
}

// header is one tensor's entry in a header.
type header struct {
	DType       DType   `json:"dtype"`
	Shape       []int64 `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

// parse reads the header and checks every tensor against the file: its
// dtype, that its shape's bytes are its offsets' (with no overflow), that
// its offsets lie in the data, and that the tensors tile the data with
// neither overlap nor gap, as the safetensors library requires.
func (f *file) parse() ([]*Tensor, error) {
	size := int64(len(f.data))
	if size < 8 {
		return nil, f.errorf("%d bytes, too short for a safetensors file (an 8-byte header length first)", size)
	}
	n := binary.LittleEndian.Uint64(f.data)
	if n > uint64(size-8) {
		return nil, f.errorf("header length %d runs past the end of the file (%d bytes)", n, size)
	}
	if n > maxHeader {
		return nil, f.errorf("header length %d is more than the %d-byte limit", n, maxHeader)
	}
	f.base = 8 + int64(n)
	var raw map[string]json.RawMessage
	if err := decodeJSON(f.data[8:f.base], &raw); err != nil {
		return nil, f.errorf("bad JSON header: %v", err)
	}
	dataLen := size - f.base
	ts := make([]*Tensor, 0, len(raw))
	for name, msg := range raw {
		if name == "__metadata__" {
			continue
		}
		var h header
		if err := json.Unmarshal(msg, &h); err != nil {
			return nil, f.errorf("tensor %q: bad header entry: %v", name, strings.TrimPrefix(err.Error(), "json: "))
		}
		t, err := f.tensor(name, h, dataLen)
		if err != nil {
			return nil, err
		}
		ts = append(ts, t)
	}
	// Sorted by offsets, each tensor starts where the one before ends.
	slices.SortFunc(ts, func(a, b *Tensor) int {
		return cmp.Or(cmp.Compare(a.begin, b.begin), cmp.Compare(a.end, b.end), strings.Compare(a.Name, b.Name))
	})
	at, b := f.base, f.base // in the file; messages give offsets in the data, as the header does
	for i, t := range ts {
		switch {
		case t.begin < at:
			u := ts[i-1]
			return nil, f.errorf("tensors %q and %q overlap: data offsets [%d, %d) and [%d, %d)", u.Name, t.Name, u.begin-b, u.end-b, t.begin-b, t.end-b)
		case t.begin > at:
			return nil, f.errorf("bytes [%d, %d) of the data belong to no tensor", at-b, t.begin-b)
		}
		at = t.end
	}
	if at != size {
		return nil, f.errorf("bytes [%d, %d) of the data belong to no tensor", at-b, size-b)
	}
	slices.SortFunc(ts, func(a, b *Tensor) int { return strings.Compare(a.Name, b.Name) })
	return ts, nil
}

// tensor checks one header entry.
func (f *file) tensor(name string, h header, dataLen int64) (*Tensor, error) {
	bitsPer, ok := dtypeBits[h.DType]
	if !ok {
		return nil, f.errorf("tensor %q has unknown dtype %q", name, h.DType)
	}
	if len(h.DataOffsets) != 2 {
		return nil, f.errorf("tensor %q: data_offsets has %d numbers, want 2", name, len(h.DataOffsets))
	}
	b, e := h.DataOffsets[0], h.DataOffsets[1]
	if b < 0 || e < b || e > dataLen {
		return nil, f.errorf("tensor %q: data offsets [%d, %d) run past the end of the data (%d bytes)", name, b, e, dataLen)
	}
	// The tensor's bits, checked for overflow: its shape may claim far
	// more elements than the file holds.
	total := uint64(bitsPer)
	for _, d := range h.Shape {
		if d < 0 {
			return nil, f.errorf("tensor %q: bad shape %v", name, h.Shape)
		}
		hi, lo := bits.Mul64(total, uint64(d))
		if hi != 0 || lo > 1<<62 {
			return nil, f.errorf("tensor %q: %s of shape %v is more bytes than any file holds", name, h.DType, h.Shape)
		}
		total = lo
	}
	if total%8 != 0 {
		return nil, f.errorf("tensor %q: %s of shape %v is not a whole number of bytes", name, h.DType, h.Shape)
	}
	if int64(total/8) != e-b {
		return nil, f.errorf("tensor %q: %s of shape %v is %d bytes, but its data offsets hold %d", name, h.DType, h.Shape, total/8, e-b)
	}
	if h.Shape == nil {
		h.Shape = []int64{}
	}
	return &Tensor{Name: name, DType: h.DType, Shape: h.Shape, file: f, begin: f.base + b, end: f.base + e}, nil
}

// A Tensor is one tensor of a checkpoint: its name, dtype and shape, and
// where its bytes are.
type Tensor struct {
	Name  string
	DType DType
	Shape []int64

	file       *file
	begin, end int64 // in the file
}

// Size returns the tensor's bytes.
func (t *Tensor) Size() int64 { return t.end - t.begin }

// File returns the name of the file that holds t.
func (t *Tensor) File() string { return t.file.name }

// Data returns the tensor's bytes, nil once the checkpoint is closed.
// They are the mapped file itself: never write to them, and do not keep
// them past Close. Reading them is only as safe as the file is stable
// (see the package comment); Read is the defended way.
func (t *Tensor) Data() []byte {
	if t.file.data == nil {
		return nil
	}
	return t.file.data[t.begin:t.end:t.end]
}

// errClosed is the error of reading a closed checkpoint.
var errClosed = errors.New("safetensors: checkpoint is closed")

// Read copies the tensor's bytes into dst, which must be Size() long. A
// file that shrank after Open (another process truncated it) makes the
// mapped pages past its new end unreadable: Read reports that as an error
// where reading Data would kill the process with SIGBUS.
func (t *Tensor) Read(dst []byte) error {
	if int64(len(dst)) != t.Size() {
		return fmt.Errorf("safetensors: tensor %q is %d bytes, the destination %d", t.Name, t.Size(), len(dst))
	}
	src := t.Data()
	if src == nil {
		return errClosed
	}
	return copyMapped(dst, src, t)
}

// copyMapped copies mapped memory, turning a fault (the file truncated
// under the mapping) into an error. debug.SetPanicOnFault applies to the
// calling goroutine only, and is restored on return.
func copyMapped(dst, src []byte, t *Tensor) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if _, fault := r.(runtime.Error); !fault {
				panic(r)
			}
			err = fmt.Errorf("safetensors: %s: tensor %q cannot be read: the file changed after it was opened (%v)", t.file.name, t.Name, r)
		}
	}()
	copy(dst, src)
	return nil
}
