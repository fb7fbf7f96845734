package main

import (
	"fmt"
	"io"
	"os"
	"time"
)

// progress draws a progress bar on standard error while a long job runs:
// only when standard error is a terminal, and only once the job has taken
// more than a second, so short runs and logs stay clean.
type progress struct {
	w     io.Writer
	total int64
	start time.Time
	shown bool
	tty   bool
}

func newProgress(w io.Writer, total int64) *progress {
	p := &progress{w: w, total: total, start: time.Now()}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

// update shows done of total.
func (p *progress) update(done int64) {
	if !p.tty || time.Since(p.start) < time.Second {
		return
	}
	p.shown = true
	const width = 40
	if p.total <= 0 {
		fmt.Fprintf(p.w, "\r%d done", done)
		return
	}
	n := int(min(done, p.total) * width / p.total)
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = ' '
		if i < n {
			bar[i] = '='
		}
	}
	fmt.Fprintf(p.w, "\r[%s] %3d%% %d/%d", bar, done*100/p.total, done, p.total)
}

// done clears the bar.
func (p *progress) done() {
	if p.shown {
		fmt.Fprintf(p.w, "\r%80s\r", "")
	}
}

// lateProgress is a progress bar for a job that learns its total only
// once it starts: start, passed to the job, draws the bar, and done
// clears it if the job started.
type lateProgress struct {
	w   io.Writer
	bar *progress
}

func (l *lateProgress) start(total int) func(int64) {
	l.bar = newProgress(l.w, int64(total))
	return l.bar.update
}

func (l *lateProgress) done() {
	if l.bar != nil {
		l.bar.done()
	}
}
