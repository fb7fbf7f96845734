package trace

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"math"
	"strconv"
)

// A Reader reads a trace one row at a time, checking every row against the
// header.
//
// Reading allocates nothing per row once its buffers have grown: rows in
// the layout the recorders and Writer produce (in any key order, with any
// spacing) are scanned by hand, and only rows written some other way (with
// exponents, escapes or unknown keys, which are ignored) go through
// encoding/json, which reads them alike but 50 times slower. Blank lines
// are skipped; "\r\n" line endings are fine.
type Reader struct {
	lines   lineReader
	name    string
	h       Header
	rowLine int   // line of the last row returned
	rows    int64 // rows returned
	experts []int32
	scores  []float32
	chk     rowChecker
	err     error // sticky: io.EOF or the first error
}

// baseMaxLine bounds a line's length (plus 64 bytes per top_k), so that a
// file without newlines cannot exhaust memory.
const baseMaxLine = 1 << 20

// NewReader reads and checks the header of the trace r. name is the file
// name that errors print, as the user typed it.
func NewReader(r io.Reader, name string) (*Reader, error) {
	rd := &Reader{lines: newLineReader(r, name), name: name}
	for {
		line, nl, err := rd.lines.next()
		if err == io.EOF {
			return nil, &Error{File: name, Msg: "empty file, expected a header line"}
		}
		if err != nil {
			return nil, err
		}
		if isBlank(line) {
			continue
		}
		h, herr := parseHeader(line)
		if herr != nil {
			msg := herr.Error()
			if !nl {
				msg = "truncated last line (no newline at end of file): " + msg
			}
			return nil, &Error{File: name, Line: rd.lines.line, Msg: msg}
		}
		if size, ok := sizeOf(r); ok && h.Entries > (size+1)/minRowBytes {
			return nil, &Error{File: name, Line: rd.lines.line, Msg: fmt.Sprintf(
				"header says num_entries %d, more rows than a file of %d bytes holds (a row takes at least %d)", h.Entries, size, minRowBytes)}
		}
		rd.h = h
		rd.lines.maxLine = baseMaxLine + 64*h.TopK
		rd.chk = newRowChecker(&rd.h)
		rd.experts = make([]int32, 0, h.TopK)
		rd.scores = make([]float32, 0, h.TopK)
		return rd, nil
	}
}

// minRowBytes is the length of the shortest row, {"t":0,"l":0,"e":[0]},
// with its newline (the last row may do without).
const minRowBytes = 22

// sizeOf returns the length of what r reads, where it is known: a regular
// file's size, or that of a bytes.Reader or strings.Reader. It bounds
// the rows a header may claim.
func sizeOf(r io.Reader) (int64, bool) {
	switch r := r.(type) {
	case interface{ Stat() (fs.FileInfo, error) }:
		if fi, err := r.Stat(); err == nil && fi.Mode().IsRegular() {
			return fi.Size(), true
		}
	case interface{ Size() int64 }:
		return r.Size(), true
	}
	return 0, false
}

// Header returns the trace's header.
func (r *Reader) Header() Header { return r.h }

// Line returns the line number of the row Next returned last.
func (r *Reader) Line() int { return r.rowLine }

// Next returns the next row. At the end of a trace whose row count matches
// its header it returns io.EOF; any problem is an *Error naming the file
// and line (or an error of the underlying reader), and Next keeps returning
// it. The row's slices belong to the Reader and are overwritten by the
// next call: copy them to keep them.
func (r *Reader) Next() (Row, error) {
	if r.err != nil {
		return Row{}, r.err
	}
	for {
		line, nl, err := r.lines.next()
		if err == io.EOF {
			if r.rows != r.h.Entries {
				return r.fail(0, fmt.Sprintf("header says num_entries %d, found %d rows", r.h.Entries, r.rows))
			}
			r.err = io.EOF
			return Row{}, io.EOF
		}
		if err != nil {
			r.err = err
			return Row{}, err
		}
		if isBlank(line) {
			continue
		}
		var row Row
		if !r.scan(line, &row) {
			if msg, syntax := r.decode(line, &row); msg != "" {
				if syntax && !nl {
					msg = "truncated last line (no newline at end of file): " + msg
				}
				return r.fail(r.lines.line, msg)
			}
		}
		if msg := r.chk.check(&row); msg != "" {
			return r.fail(r.lines.line, msg)
		}
		if r.rows == r.h.Entries {
			return r.fail(r.lines.line, fmt.Sprintf("more rows than the header's num_entries %d", r.h.Entries))
		}
		r.rows++
		r.rowLine = r.lines.line
		return row, nil
	}
}

// All returns an iterator over the remaining rows, for range loops. It
// stops after the last row, or after yielding the first error with a zero
// Row; the Row's slices are reused as with Next.
func (r *Reader) All() iter.Seq2[Row, error] {
	return func(yield func(Row, error) bool) {
		for {
			row, err := r.Next()
			if err == io.EOF {
				return
			}
			if !yield(row, err) || err != nil {
				return
			}
		}
	}
}

func (r *Reader) fail(line int, msg string) (Row, error) {
	r.err = &Error{File: r.name, Line: line, Msg: msg}
	return Row{}, r.err
}

// A lineReader reads a file line by line, numbering the lines.
type lineReader struct {
	br      *bufio.Reader
	name    string
	line    int // number of the last line read
	maxLine int
	long    []byte // a line longer than br's buffer
}

func newLineReader(r io.Reader, name string) lineReader {
	return lineReader{br: bufio.NewReaderSize(r, 64<<10), name: name, maxLine: baseMaxLine}
}

// next returns the next line without its line ending, whether it had a
// newline, and io.EOF when nothing is left. The line is valid until the
// next call.
func (r *lineReader) next() ([]byte, bool, error) {
	b, err := r.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		r.long = append(r.long[:0], b...)
		for err == bufio.ErrBufferFull && len(r.long) <= r.maxLine {
			b, err = r.br.ReadSlice('\n')
			r.long = append(r.long, b...)
		}
		b = r.long
	}
	if len(b) == 0 && err == io.EOF {
		return nil, false, io.EOF
	}
	r.line++
	if len(b) > r.maxLine+2 { // +2: the line ending
		return nil, false, &Error{File: r.name, Line: r.line, Msg: fmt.Sprintf("line longer than %d bytes", r.maxLine)}
	}
	if err != nil && err != io.EOF {
		return nil, false, fmt.Errorf("%s:%d: %w", r.name, r.line, err)
	}
	nl := false
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b, nl = b[:n-1], true
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b, nl, nil
}

func isBlank(b []byte) bool { return len(bytes.TrimSpace(b)) == 0 }

// scan reads a row in the usual layout into row, reusing the Reader's
// slices. It returns false for anything it does not handle (including
// every malformed row), leaving the verdict to decode.
func (r *Reader) scan(b []byte, row *Row) bool {
	const (
		haveT = 1 << iota
		haveL
		haveE
		haveS
	)
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i++
	var have uint8
	experts, scores := r.experts[:0], r.scores[:0]
	nullScores := true
	for {
		i = skipWS(b, i)
		if i+3 > len(b) || b[i] != '"' || b[i+2] != '"' {
			return false
		}
		key := b[i+1]
		i = skipWS(b, i+3)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipWS(b, i+1)
		var bit uint8
		var ok bool
		switch key {
		case 't':
			bit = haveT
			var v int64
			v, i, ok = scanInt(b, i)
			row.Token = int(v)
		case 'l':
			bit = haveL
			var v int64
			v, i, ok = scanInt(b, i)
			row.Layer = int(v)
		case 'e':
			bit = haveE
			experts, i, ok = scanArray(b, i, experts, scanInt32)
		case 's':
			bit = haveS
			if bytes.HasPrefix(b[i:], []byte("null")) {
				i, ok = i+4, true
			} else {
				scores, i, ok = scanArray(b, i, scores, scanFloat)
				nullScores = false
			}
		}
		if !ok || have&bit != 0 {
			return false
		}
		have |= bit
		i = skipWS(b, i)
		if i >= len(b) {
			return false
		}
		if b[i] == '}' {
			i++
			break
		}
		if b[i] != ',' {
			return false
		}
		i++
	}
	if skipWS(b, i) != len(b) || have&(haveT|haveL|haveE) != haveT|haveL|haveE {
		return false
	}
	r.experts, r.scores = experts, scores
	row.Experts = experts
	if !nullScores {
		row.Scores = scores
	}
	return true
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// maxDigits keeps scanned integers and mantissas below 2^53, where
// float64 arithmetic on them is exact.
const maxDigits = 15

// scanInt reads a JSON integer of at most maxDigits digits that is not
// followed by a fraction or an exponent.
func scanInt(b []byte, i int) (int64, int, bool) {
	neg := i < len(b) && b[i] == '-'
	if neg {
		i++
	}
	start := i
	var v int64
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		v = v*10 + int64(b[i]-'0')
		i++
	}
	n := i - start
	if n == 0 || n > maxDigits || (n > 1 && b[start] == '0') {
		return 0, i, false
	}
	if i < len(b) && (b[i] == '.' || b[i] == 'e' || b[i] == 'E') {
		return 0, i, false
	}
	if neg {
		v = -v
	}
	return v, i, true
}

// scanInt32 reads an integer that fits an int32.
func scanInt32(b []byte, i int) (int32, int, bool) {
	v, j, ok := scanInt(b, i)
	if !ok || v < math.MinInt32 || v > math.MaxInt32 {
		return 0, j, false
	}
	return int32(v), j, true
}

// scanArray reads an array of values, each read by scan, onto dst.
func scanArray[T any](b []byte, i int, dst []T, scan func([]byte, int) (T, int, bool)) ([]T, int, bool) {
	if i >= len(b) || b[i] != '[' {
		return dst, i, false
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return dst, i + 1, true
	}
	for {
		v, j, ok := scan(b, i)
		if !ok {
			return dst, j, false
		}
		dst = append(dst, v)
		i = skipWS(b, j)
		if i >= len(b) {
			return dst, i, false
		}
		if b[i] == ']' {
			return dst, i + 1, true
		}
		if b[i] != ',' {
			return dst, i, false
		}
		i = skipWS(b, i+1)
	}
}

// pow10 holds the exactly representable powers of ten that scanFloat
// divides by.
var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8}

// scanFloat reads a decimal without an exponent, with at most maxDigits
// digits and len(pow10)-1 of them after the point. It is exactly
// strconv.ParseFloat(s, 32): m/10^d is rounded once to float64 (m and 10^d
// are exact), and for d <= 8 and m < 2^53 that float64 is never a tie
// between two float32 values unless the decimal is one, so rounding it to
// float32 rounds the decimal correctly.
func scanFloat(b []byte, i int) (float32, int, bool) {
	neg := i < len(b) && b[i] == '-'
	if neg {
		i++
	}
	start := i
	var m int64
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		m = m*10 + int64(b[i]-'0')
		i++
	}
	n := i - start
	if n == 0 || (n > 1 && b[start] == '0') {
		return 0, i, false
	}
	d := 0
	if i < len(b) && b[i] == '.' {
		i++
		fs := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			m = m*10 + int64(b[i]-'0')
			i++
			if i-fs >= len(pow10) {
				return 0, i, false
			}
		}
		d = i - fs
		if d == 0 {
			return 0, i, false
		}
		n += d
	}
	if n > maxDigits || (i < len(b) && (b[i] == 'e' || b[i] == 'E')) {
		return 0, i, false
	}
	f := float32(float64(m) / pow10[d])
	if neg {
		f = -f
	}
	return f, i, true
}

// decode reads a row with encoding/json, for rows scan does not handle.
// It returns a message for anything wrong and whether that is a JSON
// syntax error.
func (r *Reader) decode(b []byte, row *Row) (msg string, syntax bool) {
	*row = Row{}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return "invalid JSON: " + jsonMsg(err), true
	}
	if _, ok := v.(map[string]any); !ok {
		return "want a JSON object, found " + short(bytes.TrimSpace(b)), false
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return "invalid JSON: " + jsonMsg(err), true
	}
	for _, k := range []string{"t", "l", "e"} {
		if _, ok := fields[k]; !ok {
			return fmt.Sprintf("missing field %q", k), false
		}
	}
	t, msg := rowInt(fields["t"], "t", "token", "")
	if msg != "" {
		return msg, false
	}
	l, msg := rowInt(fields["l"], "l", "layer", fmt.Sprintf("[0,%d)", r.h.Layers))
	if msg != "" {
		return msg, false
	}
	row.Token, row.Layer = int(t), int(l)

	var elems []json.RawMessage
	if err := json.Unmarshal(fields["e"], &elems); err != nil || elems == nil {
		return "field \"e\": want an array of integers, found " + short(fields["e"]), false
	}
	experts := r.experts[:0]
	for _, raw := range elems {
		e, msg := rowInt(raw, "e", "expert", fmt.Sprintf("[0,%d)", r.h.Experts))
		if msg != "" {
			return msg, false
		}
		if e < math.MinInt32 || e > math.MaxInt32 {
			return fmt.Sprintf("expert %d out of range [0,%d)", e, r.h.Experts), false
		}
		experts = append(experts, int32(e))
	}
	r.experts = experts
	row.Experts = experts

	if raw, ok := fields["s"]; ok && !isNull(raw) {
		elems = elems[:0]
		if err := json.Unmarshal(raw, &elems); err != nil {
			return "field \"s\": want an array of numbers or null, found " + short(raw), false
		}
		scores := r.scores[:0]
		for _, raw := range elems {
			f, err := strconv.ParseFloat(string(raw), 32)
			if err != nil {
				if errors.Is(err, strconv.ErrRange) {
					return fmt.Sprintf("score %s out of range", short(raw)), false
				}
				return "field \"s\": want an array of numbers or null, found element " + short(raw), false
			}
			scores = append(scores, float32(f))
		}
		r.scores = scores
		row.Scores = scores
	}
	return "", false
}

// rowInt reads an integer field of a row. what names the value in
// messages and rng its range, for integers too large for an int64.
func rowInt(raw json.RawMessage, key, what, rng string) (int64, string) {
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err == nil {
		return n, ""
	}
	if errors.Is(err, strconv.ErrRange) {
		if rng == "" {
			return 0, fmt.Sprintf("%s %s out of range", what, short(raw))
		}
		return 0, fmt.Sprintf("%s %s out of range %s", what, short(raw), rng)
	}
	if key == "e" {
		return 0, "field \"e\": want an array of integers, found element " + short(raw)
	}
	return 0, fmt.Sprintf("field %q: want an integer, found %s", key, short(raw))
}
