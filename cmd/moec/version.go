package main

import (
	"fmt"
	"runtime/debug"
)

var versionCommand = &command{
	name:      "version",
	usageLine: "",
	short:     "print moec's version",
	long: `Version prints "moec" and the version of the module moec was built
from, as the go command recorded it: a release such as v0.1.0 after
"go install github.com/moepolicy/moec/cmd/moec@v0.1.0", a pseudo-version
for a build in a git checkout, or (devel) when the build recorded none.`,
	run: runVersion,
}

func runVersion(e *env, c *command, args []string) int {
	fs := e.flagSet(c)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		return e.usageError(c)
	}
	fmt.Fprintf(e.stdout, "moec %s\n", version())
	return exitOK
}

// version returns the main module's version from the build information,
// or "(devel)" when there is none.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
