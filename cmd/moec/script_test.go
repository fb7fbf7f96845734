package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

var update = flag.Bool("update", false, "rewrite the expected output in testdata/script/*.txtar where cmp fails")

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"moec": func() { os.Exit(Main()) },
	})
}

// TestScript runs the end-to-end scripts of testdata/script: each runs
// moec as a program and compares what it prints and writes.
//
// Besides testscript's own commands, the scripts may use
//
//	backdate FILE...   set the modification time of the files to backdateTime
//	backdated FILE     fail unless FILE's modification time is backdateTime
//	                   (with !, fail if it is); a file replaced or rewritten
//	                   is no longer backdated
//	perm FILE MODE     fail unless FILE's permission bits are MODE, in octal
//
// and the variables $MODELS, the folder of the tiny checkpoints in
// testdata/models, and $TOKENIZERS, the folder of the tokenizer files in
// tokenizer/testdata.
func TestScript(t *testing.T) {
	models, err := filepath.Abs("../../testdata/models")
	if err != nil {
		t.Fatal(err)
	}
	tokenizers, err := filepath.Abs("../../tokenizer/testdata")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Setup: func(env *testscript.Env) error {
			env.Setenv("MODELS", models)
			env.Setenv("TOKENIZERS", tokenizers)
			return nil
		},
		Dir:                 "../../testdata/script",
		UpdateScripts:       *update,
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"backdate":  cmdBackdate,
			"backdated": cmdBackdated,
			"perm":      cmdPerm,
		},
	})
}

// backdateTime is a modification time no file written by a test has.
var backdateTime = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)

func cmdBackdate(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: backdate FILE...")
	}
	for _, name := range args {
		ts.Check(os.Chtimes(ts.MkAbs(name), backdateTime, backdateTime))
	}
}

func cmdBackdated(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: [!] backdated FILE")
	}
	info, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	switch old := info.ModTime().Equal(backdateTime); {
	case old && neg:
		ts.Fatalf("%s was not written", args[0])
	case !old && !neg:
		ts.Fatalf("%s was written (modified %v)", args[0], info.ModTime())
	}
}

func cmdPerm(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: perm FILE MODE")
	}
	want, err := strconv.ParseUint(args[1], 8, 32)
	ts.Check(err)
	info, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	if got := info.Mode().Perm(); got != os.FileMode(want) {
		ts.Fatalf("%s has mode %#o, want %#o", args[0], got, want)
	}
}

// TestExitStatus checks the exit statuses that the scripts cannot tell
// apart (their "! exec" accepts any failure): 1 for errors in files, 2 for
// usage errors.
func TestExitStatus(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, text string) string {
		path := dir + "/" + name
		if err := os.WriteFile(path, []byte(text), 0o666); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good := write("good.moe", "policy p {\n    cache {\n        capacity = 16\n    }\n}\n")
	messy := write("messy.moe", "policy p { cache { capacity = 16 } }\n")
	invalid := write("invalid.moe", "policy p {\n    cache {\n        capacity = 0\n    }\n}\n")
	broken := write("broken.moe", "policy p { cache { capacity = } }\n")
	missing := dir + "/missing.moe"
	qwen3 := "../../tokenizer/testdata/qwen3-tokenizer.json.gz"
	ids := write("ids.json", "[14990, 1879]\n")
	outside := write("outside.json", "[151669]\n")

	tests := []struct {
		args []string
		want int
	}{
		{[]string{"check", good}, exitOK},
		{[]string{"check", "-json", good}, exitOK},
		{[]string{"check", good, invalid}, exitError},
		{[]string{"check", broken}, exitError},
		{[]string{"check", "-json", invalid}, exitError},
		{[]string{"check", missing}, exitError},
		{[]string{"check"}, exitUsage},
		{[]string{"check", "-x", good}, exitUsage},
		{[]string{"check", "-h"}, exitUsage},
		{[]string{"fmt", good}, exitOK},
		{[]string{"fmt", "-l", messy}, exitOK},
		{[]string{"fmt", "-d", messy}, exitOK},
		{[]string{"fmt", invalid}, exitOK}, // fmt does not check
		{[]string{"fmt", broken}, exitError},
		{[]string{"fmt", missing}, exitError},
		{[]string{"fmt", "-w"}, exitUsage},
		{[]string{"fmt", "-x"}, exitUsage},
		{[]string{"build", good}, exitOK},
		{[]string{"build", "-o", dir + "/out_gen.go", good}, exitOK},
		{[]string{"build", invalid}, exitError},
		{[]string{"build", broken}, exitError},
		{[]string{"build", missing}, exitError},
		{[]string{"build", "-policy", "nope", good}, exitError},
		{[]string{"build"}, exitUsage},
		{[]string{"build", good, good}, exitUsage},
		{[]string{"build", "-x", good}, exitUsage},
		{[]string{"build", "-pkg", "my-pkg", good}, exitUsage},
		{[]string{"build", "-o", good, good}, exitUsage},
		{[]string{"build", "-o", dir + "/nonexistent/out_gen.go", good}, exitError},
		{[]string{"build", "-o", dir, good}, exitError},
		{[]string{"replay", "-synthetic", "qwen1.5-moe-a2.7b", "-tokens", "10", good}, exitOK},
		{[]string{"replay", "-synthetic", "nope", good}, exitUsage},
		{[]string{"replay", "-trace", missing, good}, exitError},
		{[]string{"replay", good}, exitUsage},
		{[]string{"trace", "gen", "-preset", "olmoe-1b-7b", "-tokens", "2"}, exitOK},
		{[]string{"trace", "stats", missing}, exitError},
		{[]string{"trace", "gen"}, exitUsage},
		{[]string{"trace"}, exitUsage},
		{[]string{"show", good}, exitOK},
		{[]string{"show", invalid}, exitError},
		{[]string{"show", missing}, exitError},
		{[]string{"show"}, exitUsage},
		{[]string{"tokenize", "-tokenizer", qwen3, good}, exitOK},
		{[]string{"tokenize", "-tokenizer", qwen3, "-decode", ids}, exitOK},
		{[]string{"tokenize", "-tokenizer", qwen3, "-decode", outside}, exitError},
		{[]string{"tokenize", "-tokenizer", qwen3, "-decode", good}, exitError},
		{[]string{"tokenize", "-tokenizer", qwen3, missing}, exitError},
		{[]string{"tokenize", "-tokenizer", good, ids}, exitError},
		{[]string{"tokenize", "-tokenizer", missing, ids}, exitError},
		{[]string{"tokenize", good}, exitUsage},
		{[]string{"tokenize", "-tokenizer", qwen3, good, ids}, exitUsage},
		{[]string{"version"}, exitOK},
		{[]string{"version", "extra"}, exitUsage},
		{[]string{"help"}, exitOK},
		{[]string{"help", "fmt"}, exitOK},
		{[]string{"help", "nonsense"}, exitUsage},
		{[]string{"help", "fmt", "show"}, exitUsage},
		{[]string{"help", "trace", "gen"}, exitOK},
		{[]string{"help", "trace", "nonsense"}, exitUsage},
		{[]string{"check", good, "-json"}, exitUsage},
		{[]string{"trace", "stat", missing}, exitUsage},
		{[]string{"chek", good}, exitUsage},
		{nil, exitUsage},
		{[]string{"nonsense"}, exitUsage},
		{[]string{"-h"}, exitUsage},
		{[]string{"-x"}, exitUsage},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.args), func(t *testing.T) {
			var stdout, stderr strings.Builder
			if got := run(tt.args, strings.NewReader(""), &stdout, &stderr); got != tt.want {
				t.Errorf("moec %q: exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", tt.args, got, tt.want, &stdout, &stderr)
			}
		})
	}
}
