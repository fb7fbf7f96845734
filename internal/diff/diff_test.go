package diff

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestUnified(t *testing.T) {
	tests := []struct {
		name     string
		old, new string
		want     string
	}{
		{
			name: "equal",
			old:  "a\nb\n",
			new:  "a\nb\n",
			want: "",
		},
		{
			name: "change in the middle",
			old:  "1\n2\n3\n4\n5\n6\n7\n8\n9\n",
			new:  "1\n2\n3\n4\nfive\n6\n7\n8\n9\n",
			want: `--- a/p.moe
+++ b/p.moe
@@ -2,7 +2,7 @@
 2
 3
 4
-5
+five
 6
 7
 8
`,
		},
		{
			name: "changes 6 lines apart share a hunk",
			old:  "a\n1\n2\n3\n4\n5\n6\nb\n",
			new:  "A\n1\n2\n3\n4\n5\n6\nB\n",
			want: `--- a/p.moe
+++ b/p.moe
@@ -1,8 +1,8 @@
-a
+A
 1
 2
 3
 4
 5
 6
-b
+B
`,
		},
		{
			name: "changes 7 lines apart make two hunks",
			old:  "a\n1\n2\n3\n4\n5\n6\n7\nb\n",
			new:  "A\n1\n2\n3\n4\n5\n6\n7\nB\n",
			want: `--- a/p.moe
+++ b/p.moe
@@ -1,4 +1,4 @@
-a
+A
 1
 2
 3
@@ -6,4 +6,4 @@
 5
 6
 7
-b
+B
`,
		},
		{
			name: "insertion into an empty file",
			old:  "",
			new:  "a\n",
			want: `--- a/p.moe
+++ b/p.moe
@@ -0,0 +1,1 @@
+a
`,
		},
		{
			name: "pure insertion",
			old:  "a\nb\n",
			new:  "a\nx\nb\n",
			want: `--- a/p.moe
+++ b/p.moe
@@ -1,2 +1,3 @@
 a
+x
 b
`,
		},
		{
			name: "missing final newline",
			old:  "a\nb",
			new:  "a\nb\n",
			want: `--- a/p.moe
+++ b/p.moe
@@ -1,2 +1,2 @@
 a
-b
\ No newline at end of file
+b
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(Unified("p.moe", []byte(tt.old), []byte(tt.new)))
			if got != tt.want {
				t.Errorf("Unified(%q, %q):\n%s\nwant:\n%s", tt.old, tt.new, got, tt.want)
			}
		})
	}
}

// TestScriptMinimal checks script on random inputs against the
// definition: the script turns a into b, and keeps a longest common
// subsequence, measured by dynamic programming.
func TestScriptMinimal(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		a := randomLines(r)
		b := randomLines(r)
		if r.IntN(3) == 0 {
			b = mutate(r, a)
		}
		edits := script(a, b)
		var gotA, gotB []string
		kept := 0
		for _, ed := range edits {
			switch ed.op {
			case ' ':
				gotA = append(gotA, ed.line)
				gotB = append(gotB, ed.line)
				kept++
			case '-':
				gotA = append(gotA, ed.line)
			case '+':
				gotB = append(gotB, ed.line)
			}
		}
		if strings.Join(gotA, "") != strings.Join(a, "") || strings.Join(gotB, "") != strings.Join(b, "") {
			t.Fatalf("script(%q, %q) = %v: does not turn one into the other", a, b, edits)
		}
		if want := lcsLen(a, b); kept != want {
			t.Fatalf("script(%q, %q) keeps %d lines, want %d", a, b, kept, want)
		}
	}
}

func randomLines(r *rand.Rand) []string {
	lines := make([]string, r.IntN(12))
	for i := range lines {
		lines[i] = string(rune('a'+r.IntN(4))) + "\n"
	}
	return lines
}

// mutate returns a copy of a with a few lines deleted, inserted or changed.
func mutate(r *rand.Rand, a []string) []string {
	b := append([]string(nil), a...)
	for range r.IntN(4) + 1 {
		i := r.IntN(len(b) + 1)
		switch r.IntN(3) {
		case 0:
			if i < len(b) {
				b = append(b[:i], b[i+1:]...)
			}
		case 1:
			b = append(b[:i], append([]string{"new\n"}, b[i:]...)...)
		case 2:
			if i < len(b) {
				b[i] = "changed\n"
			}
		}
	}
	return b
}

func lcsLen(a, b []string) int {
	dp := make([][]int, len(a)+1)
	for i := range dp {
		dp[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				dp[i][j] = dp[i+1][j+1] + 1
			} else {
				dp[i][j] = max(dp[i+1][j], dp[i][j+1])
			}
		}
	}
	return dp[0][0]
}
