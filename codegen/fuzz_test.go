package codegen_test

import (
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/moepolicy/moec/codegen"
	moeparser "github.com/moepolicy/moec/parser"
	"github.com/moepolicy/moec/sema"
)

// typeCheck parses and type-checks generated code against the real rt
// package (its export data, which the go command builds once).
var (
	importOnce sync.Once
	imp        types.Importer
	fset       = token.NewFileSet()
)

func typeCheck(t *testing.T, src []byte) {
	t.Helper()
	importOnce.Do(func() { imp = importer.ForCompiler(fset, "gc", exportData) })
	f, err := parser.ParseFile(fset, "policy_gen.go", src, parser.ParseComments)
	if err != nil {
		t.Fatalf("generated code does not parse: %v\n%s", err, src)
	}
	conf := types.Config{Importer: imp}
	if _, err := conf.Check("gen", fset, []*ast.File{f}, nil); err != nil {
		t.Fatalf("generated code does not type-check: %v\n%s", err, src)
	}
}

// exportData opens the compiler's export data of an import path, which
// "go list -export" builds (or finds in the build cache).
func exportData(path string) (io.ReadCloser, error) {
	out, err := exec.Command("go", "list", "-export", "-f", "{{.Export}}", path).Output()
	if err != nil {
		return nil, fmt.Errorf("go list -export %s: %v", path, err)
	}
	return os.Open(strings.TrimSpace(string(out)))
}

// FuzzCompile checks that whatever sema accepts, codegen turns into Go
// that go/parser accepts and go/types type-checks against rt.
func FuzzCompile(f *testing.F) {
	files, _ := filepath.Glob("../examples/*.moe")
	more, _ := filepath.Glob("../examples/*/*.moe")
	for _, name := range append(files, more...) {
		src, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Add([]byte("policy p { cache { capacity = 4 eviction = lfu | lru } prefetch { budget = 1 } adapt { when hit_rate < 0.5 { eviction = score strategy = history } } }"))
	f.Fuzz(func(t *testing.T, src []byte) {
		file, diags := moeparser.ParseFile("fuzz.moe", src)
		specs, more := sema.Check(file)
		if len(diags)+len(more) > 0 || len(specs) == 0 {
			return
		}
		out, err := codegen.Generate(specs, codegen.Options{Package: "gen", Source: "fuzz.moe"})
		if err != nil {
			return // duplicate type names, too many configurations: reported, not compiled
		}
		typeCheck(t, out)
	})
}
