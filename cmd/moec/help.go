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
	usageLine: "[command]",
	short:     "print help about moec or one of its commands",
	long: `Help prints an overview of moec and its commands or, given the name of a
command, that command's usage and description.`,
	run: runHelp,
}

func runHelp(e *env, c *command, args []string) int {
	fs := e.flagSet(c)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	switch fs.NArg() {
	case 0:
		return e.printTo(e.mainUsage)
	case 1:
	default:
		return e.usageError(c)
	}
	name := fs.Arg(0)
	topic := e.lookup(name)
	if topic == nil {
		fmt.Fprintf(e.stderr, "moec help %s: unknown help topic. Run 'moec help'.\n", name)
		return exitUsage
	}
	fmt.Fprintf(e.stdout, "usage: %s\n\n%s\n", topic.usage(), strings.TrimRight(topic.long, "\n"))
	return exitOK
}
