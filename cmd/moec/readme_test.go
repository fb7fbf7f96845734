package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestREADME runs the examples of README.md and compares what moec
// prints with what the README shows, so that its numbers, and what it
// says of them, cannot go stale. A code block whose lines start with
// "$ " is a session: "$ cat FILE" shows FILE, whose text (up to the next
// "$ " line) is written for the commands after it; "$ moec ARGS" is run
// beside the repository's testdata, examples and tokenizer folders, and
// its standard output and error must be the lines up to the next "$ "
// line, or up to a line "..." where the README leaves the rest out.
func TestREADME(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, name := range []string{"testdata", "examples", "tokenizer"} {
		abs, err := filepath.Abs(filepath.Join("..", "..", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(abs, filepath.Join(dir, name)); err != nil {
			t.Skip(err)
		}
	}
	t.Chdir(dir)
	ran := 0
	for _, block := range strings.Split(string(data), "```")[1:] {
		lines := strings.Split(strings.TrimSuffix(block, "\n"), "\n")[1:] // after the language
		for i := 0; i < len(lines); {
			cmd, ok := strings.CutPrefix(lines[i], "$ ")
			if !ok {
				break // not a session
			}
			end := i + 1
			for end < len(lines) && !strings.HasPrefix(lines[end], "$ ") {
				end++
			}
			text := lines[i+1 : end]
			args := strings.Fields(cmd)
			switch args[0] {
			case "cat":
				if err := os.WriteFile(args[1], []byte(strings.Join(text, "\n")+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			case "moec":
				var out strings.Builder
				run(args[1:], nil, &out, &out)
				got, want := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"), text
				for j, line := range want {
					if line == "..." {
						got, want = got[:min(j, len(got))], want[:j]
						break
					}
				}
				if g, w := strings.Join(got, "\n"), strings.Join(want, "\n"); g != w {
					t.Errorf("README.md: %s printed\n%s\nthe README shows\n%s", cmd, g, w)
				}
				ran++
			default:
				t.Fatalf("README.md: %q is neither cat nor moec", cmd)
			}
			i = end
		}
	}
	if ran < 5 {
		t.Errorf("ran %d moec commands of README.md, want the 5 or more it shows", ran)
	}

	// How to install and generate, as go.mod and build's help have it.
	var goVersion string
	for _, line := range strings.Split(string(mod), "\n") {
		if v, ok := strings.CutPrefix(line, "go "); ok {
			goVersion = v
		}
	}
	for _, want := range []string{
		"moec needs Go " + goVersion + " or later",
		"go install github.com/moepolicy/moec/cmd/moec@latest",
		generateLine,
	} {
		if !strings.Contains(string(data), want) {
			t.Errorf("README.md does not say %q", want)
		}
	}
	if !strings.Contains(buildCommand.long, generateLine) {
		t.Errorf("moec help build does not say %q", generateLine)
	}
}
