// Package progress draws a progress bar on standard error while a long
// job runs: only when the stream is a terminal, and only once the job has
// taken more than a second, so short runs and logs stay clean.
package progress

import (
	"fmt"
	"io"
	"os"
	"time"
)

// delay is how long a job runs before its bar appears.
const delay = time.Second

// width is the bar's length in characters.
const width = 40

// A Bar is a progress bar on a stream. The zero Bar draws nothing; Start
// begins a job.
type Bar struct {
	w     io.Writer
	total int64
	start time.Time
	shown bool
	tty   bool
}

// New returns a bar that draws on w once a job starts.
func New(w io.Writer) *Bar { return &Bar{w: w} }

// Start begins a job of total steps (unknown when not positive) and
// returns the function to call with the number of steps done.
func (b *Bar) Start(total int64) func(done int64) {
	b.total, b.start, b.tty = total, time.Now(), isTerminal(b.w)
	return b.update
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// update shows done of total.
func (b *Bar) update(done int64) {
	if !b.tty || time.Since(b.start) < delay {
		return
	}
	b.shown = true
	if b.total <= 0 {
		fmt.Fprintf(b.w, "\r%d done", done)
		return
	}
	n := int(min(done, b.total) * width / b.total)
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = ' '
		if i < n {
			bar[i] = '='
		}
	}
	fmt.Fprintf(b.w, "\r[%s] %3d%% %d/%d", bar, done*100/b.total, done, b.total)
}

// Done clears the bar, if it was drawn.
func (b *Bar) Done() {
	if b.shown {
		fmt.Fprintf(b.w, "\r%80s\r", "")
		b.shown = false
	}
}
