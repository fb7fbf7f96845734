package trace

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
)

// A Writer writes a trace: the header, then rows in the layout the
// reference's recorders use, scores rounded to 4 decimals.
//
// The header goes out first, so the number of rows must be known up front:
// the caller sets Header.Entries, Write refuses a row beyond it and Close
// reports a shortfall.
type Writer struct {
	bw   *bufio.Writer
	h    Header
	rows int64
	buf  []byte
	chk  rowChecker
	err  error // sticky
}

// NewWriter checks h and writes it to w.
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	if err := h.Validate(); err != nil {
		return nil, fmt.Errorf("trace header: %v", err)
	}
	tw := &Writer{bw: bufio.NewWriterSize(w, 64<<10), h: h}
	tw.chk = newRowChecker(&tw.h)
	tw.buf = append(appendHeader(tw.buf, &tw.h), '\n')
	if _, err := tw.bw.Write(tw.buf); err != nil {
		return nil, err
	}
	return tw, nil
}

// Header returns the header the Writer wrote.
func (w *Writer) Header() Header { return w.h }

// Write checks row against the header and writes it. It allocates
// nothing.
func (w *Writer) Write(row Row) error {
	if w.err != nil {
		return w.err
	}
	if w.rows == w.h.Entries {
		w.err = fmt.Errorf("trace row %d: more rows than the header's num_entries %d", w.rows, w.h.Entries)
		return w.err
	}
	if msg := w.chk.check(&row); msg != "" {
		w.err = fmt.Errorf("trace row %d: %s", w.rows, msg)
		return w.err
	}
	w.buf = append(appendRow(w.buf[:0], &row), '\n')
	if _, err := w.bw.Write(w.buf); err != nil {
		w.err = err
		return err
	}
	w.rows++
	return nil
}

// Close flushes what is buffered and reports an error if fewer rows were
// written than the header announced. It does not close the underlying
// writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if err := w.bw.Flush(); err != nil {
		w.err = err
		return err
	}
	if w.rows != w.h.Entries {
		w.err = fmt.Errorf("trace: header says num_entries %d, wrote %d rows", w.h.Entries, w.rows)
		return w.err
	}
	w.err = errClosed
	return nil
}

var errClosed = fmt.Errorf("trace: writer closed")

// appendRow appends a row's line, without the newline.
func appendRow(b []byte, row *Row) []byte {
	b = append(b, `{"t":`...)
	b = strconv.AppendInt(b, int64(row.Token), 10)
	b = append(b, `,"l":`...)
	b = strconv.AppendInt(b, int64(row.Layer), 10)
	b = append(b, `,"e":[`...)
	for i, e := range row.Experts {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(e), 10)
	}
	b = append(b, `],"s":`...)
	if row.Scores == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, s := range row.Scores {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendScore(b, s)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendScore appends s rounded to 4 decimals as Python's json.dumps
// prints round(s, 4): the shortest decimal that reads back as the rounded
// float64, with ".0" on whole numbers.
func appendScore(b []byte, s float32) []byte {
	r := roundScore(s)
	start := len(b)
	b = strconv.AppendFloat(b, r, 'f', -1, 64)
	for _, c := range b[start:] {
		if c == '.' {
			return b
		}
	}
	return append(b, ".0"...)
}

// roundScore rounds s to 4 decimals, as a trace records it.
func roundScore(s float32) float64 {
	r := math.Round(float64(s)*1e4) / 1e4
	if r == 0 {
		r = 0 // no "-0.0"
	}
	return r
}

// RoundScore returns s as a Writer records it and a Reader reads it
// back: rounded to 4 decimals. A program that dispatches the rounded
// scores makes the decisions a replay of its recorded trace makes.
func RoundScore(s float32) float32 { return float32(roundScore(s)) }
