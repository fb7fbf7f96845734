package main

import (
	"flag"
	"io"
	"regexp"
	"testing"
)

// TestUsageListsFlags checks that the usage line of every command and
// subcommand names every flag the command takes: replay's, tune's and
// sweep's left out half of theirs.
func TestUsageListsFlags(t *testing.T) {
	var all []*command
	for _, c := range commands() {
		all = append(all, c)
		all = append(all, c.subcommands...)
	}
	for _, c := range all {
		if len(c.subcommands) > 0 {
			continue // it only dispatches: its subcommands have the flags
		}
		var sets []*flag.FlagSet
		e := newEnv(nil, io.Discard, io.Discard)
		e.flagSets = func(fs *flag.FlagSet) { sets = append(sets, fs) }
		if st := c.run(e, c, []string{"-h"}); st != exitUsage {
			t.Errorf("moec %s -h: exit status %d, want %d", c.name, st, exitUsage)
		}
		if len(sets) != 1 {
			t.Fatalf("moec %s made %d flag sets, want 1", c.name, len(sets))
		}
		sets[0].VisitAll(func(f *flag.Flag) {
			if !regexp.MustCompile(`(^|[\s\[|])-` + regexp.QuoteMeta(f.Name) + `([\s\]|]|$)`).MatchString(c.usageLine) {
				t.Errorf("usage: %s\nlacks -%s", c.usage(), f.Name)
			}
		})
	}
}
