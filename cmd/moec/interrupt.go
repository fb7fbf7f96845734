package main

import (
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Interrupts. Main catches an interrupt (Ctrl-C) and SIGTERM so that moec
// never leaves a temporary file behind: on the signal it removes the
// temporary files of the outputs not yet in place, says it was
// interrupted, and exits with status 128 + the signal's number (130 for
// Ctrl-C). A command that can stop by itself and report what it has done
// (tune ranks the configurations it has replayed) asks for the first
// signal with stopOnInterrupt; a second signal ends moec at once.

// exitInterrupted is the exit status of a run ended by an interrupt
// (SIGINT), as a shell reports it: 128 + 2.
const exitInterrupted = 128 + int(syscall.SIGINT)

// An interrupt is what one run of moec knows about being interrupted.
type interrupt struct {
	mu      sync.Mutex
	temps   map[string]bool // the temporary files of outputs not yet committed or aborted
	stop    chan struct{}   // closed by the first signal when watched
	watched bool            // a command watches stop
	sig     os.Signal       // the first signal, nil before it
}

func newInterrupt() *interrupt {
	return &interrupt{temps: map[string]bool{}, stop: make(chan struct{})}
}

// notify installs the signal handler of Main: on a signal that no command
// handles it removes the temporary files, reports, and calls exit with
// the signal's status. The returned function uninstalls it.
func (e *env) notify(exit func(int)) (stop func()) {
	signals := make(chan os.Signal, 2)
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		// A signal ignored when moec started (nohup, a shell's
		// background job) stays ignored.
		if !signal.Ignored(sig) {
			signal.Notify(signals, sig)
		}
	}
	go func() {
		for sig := range signals {
			if e.interrupt.signal(sig) {
				continue
			}
			e.interrupt.removeAll()
			fmt.Fprintln(e.stderr, "moec: interrupted")
			exit(e.interrupt.status())
		}
	}()
	return func() { signal.Stop(signals) }
}

// signal records sig and reports whether the command running handles it:
// the first signal while a command watches closes stop; any other is the
// caller's to act on.
func (in *interrupt) signal(sig os.Signal) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.sig != nil {
		return false
	}
	in.sig = sig
	if in.watched {
		close(in.stop)
	}
	return in.watched
}

// status returns the exit status for the signal received: 128 + its
// number, or exitInterrupted where the number is unknown.
func (in *interrupt) status() int {
	if s, ok := in.sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return exitInterrupted
}

// stopOnInterrupt returns a channel that the first interrupt closes
// instead of ending moec. A command that calls it must stop its work when
// the channel is closed, report what it has done, say it was interrupted
// and return interruptedStatus.
func (e *env) stopOnInterrupt() <-chan struct{} {
	in := e.interrupt
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.watched {
		in.watched = true
		if in.sig != nil { // too late to stop anything else
			close(in.stop)
		}
	}
	return in.stop
}

// interruptedStatus returns the exit status of a command stopped by an
// interrupt.
func (e *env) interruptedStatus() int {
	e.interrupt.mu.Lock()
	defer e.interrupt.mu.Unlock()
	return e.interrupt.status()
}

// createTemp creates a temporary file as os.CreateTemp does and records
// it, to be removed on an interrupt.
func (in *interrupt) createTemp(dir, pattern string) (*os.File, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	f, err := os.CreateTemp(dir, pattern)
	if err == nil {
		in.temps[f.Name()] = true
	}
	return f, err
}

// rename moves the temporary file temp onto target. Holding the lock
// while it does keeps an interrupt from removing temp halfway.
func (in *interrupt) rename(temp, target string) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	delete(in.temps, temp)
	return os.Rename(temp, target)
}

// remove removes the temporary file temp.
func (in *interrupt) remove(temp string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	delete(in.temps, temp)
	os.Remove(temp)
}

// removeAll removes every temporary file and keeps the lock, so that no
// output is created or moved into place while moec exits.
func (in *interrupt) removeAll() {
	in.mu.Lock()
	for name := range in.temps {
		os.Remove(name)
	}
	in.temps = map[string]bool{}
}
