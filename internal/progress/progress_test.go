package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// started returns a bar on a buffer that counts as a terminal, for a job
// of total steps that began long enough ago to be drawn.
func started(total int64) (*Bar, func(int64), *bytes.Buffer) {
	var buf bytes.Buffer
	b := New(&buf)
	update := b.Start(total)
	b.tty, b.start = true, time.Now().Add(-2*delay)
	return b, update, &buf
}

func TestBar(t *testing.T) {
	b, update, buf := started(4)
	update(1)
	update(4)
	want := "\r[==========                              ]  25% 1/4" +
		"\r[========================================] 100% 4/4"
	if got := buf.String(); got != want {
		t.Errorf("bar:\n%q\nwant:\n%q", got, want)
	}
	buf.Reset()
	b.Done()
	if got, want := buf.String(), "\r"+strings.Repeat(" ", 80)+"\r"; got != want {
		t.Errorf("Done wrote %q, want %q", got, want)
	}
	buf.Reset()
	b.Done()
	if buf.Len() != 0 {
		t.Errorf("a second Done wrote %q", buf.String())
	}
}

func TestBarUnknownTotal(t *testing.T) {
	_, update, buf := started(0)
	update(7)
	if got := buf.String(); got != "\r7 done" {
		t.Errorf("bar without a total: %q", got)
	}
}

// TestBarQuiet checks that nothing is drawn on a stream that is not a
// terminal, during the first second of a job, or before a job starts.
func TestBarQuiet(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf)
	b.Done()
	update := b.Start(10)
	update(5)
	b.Done()
	if buf.Len() != 0 {
		t.Errorf("drew %q on a stream that is not a terminal", buf.String())
	}
	b, update, tty := started(10)
	b.start = time.Now()
	update(5)
	b.Done()
	if tty.Len() != 0 {
		t.Errorf("drew %q in the first second", tty.String())
	}
}
