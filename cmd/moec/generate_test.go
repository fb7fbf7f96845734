package main

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedFilesCurrent finds every "//go:generate ... moec build"
// line in the repository, runs that build in memory, and fails when the
// committed output differs: a generated file must never go stale.
func TestGeneratedFilesCurrent(t *testing.T) {
	root := filepath.Join("..", "..")
	found := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		for _, args := range generateBuilds(t, path) {
			found++
			checkGenerated(t, filepath.Dir(path), args)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found == 0 {
		t.Fatal("no //go:generate line runs moec build")
	}
}

// generateBuilds returns the arguments after "build" of every go:generate
// line of file that runs moec build.
func generateBuilds(t *testing.T, file string) [][]string {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var builds [][]string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "//go:generate ") {
			continue
		}
		f := strings.Fields(line)
		for i := range len(f) - 1 {
			if strings.HasSuffix(f[i], "moec") && f[i+1] == "build" {
				builds = append(builds, f[i+2:])
			}
		}
	}
	return builds
}

// checkGenerated runs "moec build args" as go generate would in dir, with
// the output to memory, and compares it with the committed file.
func checkGenerated(t *testing.T, dir string, args []string) {
	t.Helper()
	var out string
	var rest []string
	for i := 0; i < len(args); i++ {
		if args[i] == "-o" && i+1 < len(args) {
			out = args[i+1]
			i++
			continue
		}
		rest = append(rest, args[i])
	}
	if out == "" {
		t.Errorf("%s: go:generate runs moec build without -o", dir)
		return
	}
	// Make the build's paths relative to dir, as go generate runs it there,
	// and fix the package the way -o would find it.
	for i, a := range rest {
		if strings.HasSuffix(a, ".moe") {
			rest[i] = filepath.Join(dir, a)
		}
	}
	outPath := filepath.Join(dir, out)
	cmdArgs := append([]string{"build", "-pkg", packageOf(dir, outPath)}, rest...)
	var stdout, stderr bytes.Buffer
	if code := run(cmdArgs, nil, &stdout, &stderr); code != 0 {
		t.Errorf("moec %s: exit %d\n%s", strings.Join(cmdArgs, " "), code, stderr.String())
		return
	}
	committed, err := os.ReadFile(outPath)
	if err != nil {
		t.Errorf("%v: run go generate ./...", err)
		return
	}
	if !bytes.Equal(committed, stdout.Bytes()) {
		t.Errorf("%s is stale: run go generate ./...", outPath)
	}
}
