package main

import (
	"fmt"
	"io"
	"strings"
)

// mainIntro opens the output of "moec help"; doc.go opens with it too.
const mainIntro = `Moec checks, formats, shows and replays MoE-PolicyLang policies: the .moe
files that say how a Mixture-of-Experts model's expert weights move between
host memory and a GPU.`

// mainUsage prints the overview of moec and its commands.
func (e *env) mainUsage(w io.Writer) {
	fmt.Fprintf(w, "%s\n\nUsage:\n\n\tmoec <command> [arguments]\n\nThe commands are:\n\n", mainIntro)
	for _, c := range e.commands {
		if c.name == "help" { // "moec help" is how this list is read
			continue
		}
		fmt.Fprintf(w, "\t%-11s %s\n", c.name, c.short)
	}
	fmt.Fprintf(w, "\nUse \"moec help <command>\" for more information about a command.\n")
}

var helpCommand = &command{
	name:      "help",
	usageLine: "[command [subcommand]]",
	short:     "print help about moec or one of its commands",
	long: `Help prints an overview of moec and its commands or, given the name of a
command ("moec help trace") or of a subcommand ("moec help trace gen"),
its usage and description.`,
	run: runHelp,
}

func runHelp(e *env, c *command, args []string) int {
	fs := e.flagSet(c)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() == 0 {
		return e.printTo(e.mainUsage)
	}
	name := strings.Join(fs.Args(), " ")
	topic := e.lookup(name)
	if topic == nil {
		// The hint is for the word that is not known: "trace gne" gets
		// the subcommands of trace.
		among, last := e.commands, fs.Arg(fs.NArg()-1)
		if parent := e.lookup(strings.Join(fs.Args()[:fs.NArg()-1], " ")); parent != nil {
			among = parent.subcommands
		}
		fmt.Fprintf(e.stderr, "moec help %s: unknown help topic%s. Run 'moec help'.\n", name, didYouMean(last, among))
		return exitUsage
	}
	return e.printTo(func(w io.Writer) { fmt.Fprintf(w, "usage: %s\n\n%s\n", topic.usage(), topic.help()) })
}

// help returns what "moec help NAME" prints after the usage line: c's
// description and the list of its subcommands.
func (c *command) help() string {
	text := strings.TrimRight(c.long, "\n")
	if len(c.subcommands) == 0 {
		return text
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\nThe subcommands are:\n\n", text)
	for _, sub := range c.subcommands {
		fmt.Fprintf(&b, "\t%-11s %s\n", strings.TrimPrefix(sub.name, c.name+" "), sub.short)
	}
	fmt.Fprintf(&b, "\nUse \"moec help %s <subcommand>\" for more information about one.", c.name)
	return b.String()
}
