package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/moepolicy/moec/internal/spell"
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
	name      string // "check"; a subcommand's has its command's: "trace gen"
	usageLine string // the arguments after "moec NAME"
	short     string // one line for the list of commands
	long      string // the full description, in doc comment form
	run       func(e *env, c *command, args []string) int

	// subcommands are the commands under this one ("moec trace gen"),
	// which "moec help trace" lists after long.
	subcommands []*command
}

// env is what one invocation of moec works with: its streams, its
// commands, and what it must undo on an interrupt. Nothing outside it
// changes while a command runs, so tests may call run concurrently.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	commands       []*command
	interrupt      *interrupt

	// files, when not nil, is where the command reads its input files
	// instead of the file system: moec.Demo for replay's example.
	files fs.FS

	// flagSets, when not nil, is called with every flag set a command
	// makes: tests check the flags against the usage lines.
	flagSets func(*flag.FlagSet)
}

// commands returns the table of commands, in the order help lists them.
// It is built by a function rather than held in a package variable,
// because help's run function reads it.
func commands() []*command {
	return []*command{checkCommand, fmtCommand, showCommand, buildCommand, autoCommand, replayCommand, tuneCommand, sweepCommand, traceCommand, runCommand, tokenizeCommand, versionCommand, helpCommand}
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
		fmt.Fprintf(stderr, "moec %s: unknown command%s\nRun 'moec help' for usage.\n", name, didYouMean(name, e.commands))
		return exitUsage
	}
	return c.run(e, c, args[1:])
}

// lookup returns the command called name ("trace gen" for a
// subcommand), or nil.
func (e *env) lookup(name string) *command {
	return find(name, e.commands)
}

// find returns the command of cs, or of their subcommands, called name.
func find(name string, cs []*command) *command {
	for _, c := range cs {
		if c.name == name {
			return c
		}
		if sub := find(name, c.subcommands); sub != nil {
			return sub
		}
	}
	return nil
}

// aliases are the names of commands elsewhere: the reference's CLI has
// validate, parse and compile, and its README advertises run.
var aliases = map[string]string{
	"validate": "check",
	"parse":    "show",
	"compile":  "build",
}

// didYouMean returns a hint for an unknown command name among cs (the
// commands, or one command's subcommands): ` (did you mean "check"?)`,
// or "" when no name is close.
func didYouMean(name string, cs []*command) string {
	var names []string
	for _, c := range cs {
		names = append(names, c.name[strings.LastIndexByte(c.name, ' ')+1:])
	}
	s := aliases[name]
	if s == "" || !slices.Contains(names, s) {
		s = spell.Suggest(name, names)
	}
	if s == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", s)
}

// A flagSet is a command's flags: a flag.FlagSet whose Parse also
// refuses a flag written after a file name, which the flag package would
// take for a file.
type flagSet struct {
	*flag.FlagSet
	e *env
	c *command
}

// flagSet returns a new, empty flag set for c that reports its errors on
// standard error followed by c's usage.
func (e *env) flagSet(c *command) *flagSet {
	fs := flag.NewFlagSet("moec "+c.name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() { e.commandUsage(c) }
	if e.flagSets != nil {
		e.flagSets(fs)
	}
	return &flagSet{FlagSet: fs, e: e, c: c}
}

// errFlagAfterFile is Parse's error for a flag after a file name.
var errFlagAfterFile = errors.New("flag after a file name")

// Parse parses args as flag.FlagSet's Parse does, and then reports a
// usage error, with a hint, where what it took for a file name starts
// with "-" (a flag after the files: "moec check p.moe -json"); "-" alone
// is standard input, and a name after "--" is a file name. Like Go's
// commands, moec reads flags only before the files; a file whose name
// starts with "-" can be written "./-name".
func (fs *flagSet) Parse(args []string) error {
	if err := fs.FlagSet.Parse(args); err != nil {
		return err
	}
	rest := fs.Args()
	parsed := args[:len(args)-len(rest)]
	if len(parsed) > 0 && parsed[len(parsed)-1] == "--" {
		return nil
	}
	for i, a := range rest {
		if len(a) < 2 || a[0] != '-' {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		files := rest[:i]
		switch {
		case fs.Lookup(name) == nil:
			fmt.Fprintf(fs.e.stderr, "flag provided but not defined: %s\n", a)
		default:
			fixed := append(append(append([]string{fs.Name()}, parsed...), rest[i:]...), files...)
			fmt.Fprintf(fs.e.stderr, "%s: %s comes after %s and would be read as a file name; flags go first: %s\n",
				fs.Name(), a, strings.Join(files, " "), strings.Join(fixed, " "))
		}
		fs.Usage()
		return errFlagAfterFile
	}
	return nil
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
