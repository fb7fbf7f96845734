package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() { os.Exit(Main()) }

// Main runs moec with the process's arguments and standard streams and
// returns the exit status: 0 when all went well, 1 when a file has errors
// or cannot be read or written, 2 when moec is used wrongly, 128 + the
// signal's number when an interrupt or SIGTERM ended it (130 for Ctrl-C).
func Main() int {
	e := newEnv(os.Stdin, os.Stdout, os.Stderr)
	defer e.notify(os.Exit)()
	return e.run(os.Args[1:])
}

// The exit statuses.
const (
	exitOK    = 0 // every file is valid, every operation succeeded
	exitError = 1 // a diagnostic, or a file that could not be read or written
	exitUsage = 2 // a usage error: unknown command or flag, missing argument
)

// A command is one moec subcommand. The descriptions are what "moec help"
// and "moec help NAME" print; doc.go repeats them (a test keeps the two in
// step).
type command struct {
	name      string
	usageLine string // the arguments after "moec NAME"
	short     string // one line for the list of commands
	long      string // the full description, in doc comment form
	run       func(e *env, c *command, args []string) int
}

// env is what one invocation of moec works with: its streams, its
// commands, and what it must undo on an interrupt. Nothing outside it
// changes while a command runs, so tests may call run concurrently.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	commands       []*command
	interrupt      *interrupt
}

// commands returns the table of commands, in the order help lists them.
// It is built by a function rather than held in a package variable,
// because help's run function reads it.
func commands() []*command {
	return []*command{checkCommand, fmtCommand, showCommand, buildCommand, autoCommand, replayCommand, tuneCommand, sweepCommand, traceCommand, versionCommand, helpCommand}
}

// run is moec with its arguments (without the program name) and streams;
// it returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return newEnv(stdin, stdout, stderr).run(args)
}

// newEnv returns the environment of one invocation of moec.
func newEnv(stdin io.Reader, stdout, stderr io.Writer) *env {
	return &env{
		stdin:     stdin,
		stdout:    stdout,
		stderr:    stderr,
		commands:  commands(),
		interrupt: newInterrupt(),
	}
}

// run runs the command that args (without the program name) name and
// returns the exit status.
func (e *env) run(args []string) int {
	stderr := e.stderr
	if len(args) == 0 {
		e.mainUsage(stderr)
		return exitUsage
	}
	name := args[0]
	if strings.HasPrefix(name, "-") {
		if name != "-h" && name != "-help" && name != "--help" {
			fmt.Fprintf(stderr, "flag provided but not defined: %s\n", name)
		}
		e.mainUsage(stderr)
		return exitUsage
	}
	c := e.lookup(name)
	if c == nil {
		fmt.Fprintf(stderr, "moec %s: unknown command\nRun 'moec help' for usage.\n", name)
		return exitUsage
	}
	return c.run(e, c, args[1:])
}

// lookup returns the command called name, or nil.
func (e *env) lookup(name string) *command {
	for _, c := range e.commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// flagSet returns a new, empty flag set for c that reports its errors on
// standard error followed by c's usage.
func (e *env) flagSet(c *command) *flag.FlagSet {
	fs := flag.NewFlagSet("moec "+c.name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() { e.commandUsage(c) }
	return fs
}

// commandUsage prints c's usage line on standard error, the way the go
// command does.
func (e *env) commandUsage(c *command) {
	fmt.Fprintf(e.stderr, "usage: %s\nRun 'moec help %s' for details.\n", c.usage(), c.name)
}

// usage returns c's usage line: "moec NAME ARGUMENTS".
func (c *command) usage() string {
	return strings.TrimSpace("moec " + c.name + " " + c.usageLine)
}

// usageError prints c's usage and returns the usage exit status.
func (e *env) usageError(c *command) int {
	e.commandUsage(c)
	return exitUsage
}

// errorf reports an error that is not a diagnostic, such as a file that
// cannot be read, as "moec: ...".
func (e *env) errorf(format string, args ...any) {
	fmt.Fprintf(e.stderr, "moec: "+format+"\n", args...)
}
