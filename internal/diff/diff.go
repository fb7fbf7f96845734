// Package diff computes line diffs and prints them in the unified format
// of diff -u, for moec fmt -d.
package diff

import (
	"bytes"
	"fmt"
)

// contextLines is how many unchanged lines a diff hunk shows around a
// change, as in diff -u.
const contextLines = 3

// Unified returns the unified diff that turns old into new, with the
// headers "--- a/NAME" and "+++ b/NAME" (so that "patch -p1" applies it),
// or nil when they are equal. Lines are compared whole, newline included;
// a last line without a newline is marked the way diff -u marks it.
func Unified(name string, old, new []byte) []byte {
	if bytes.Equal(old, new) {
		return nil
	}
	edits := script(splitLines(old), splitLines(new))

	var out bytes.Buffer
	fmt.Fprintf(&out, "--- a/%s\n+++ b/%s\n", name, name)

	// oldAt[i] and newAt[i] are the line numbers (from 0) in old and new
	// where edits[i] stands.
	oldAt := make([]int, len(edits)+1)
	newAt := make([]int, len(edits)+1)
	for i, ed := range edits {
		oldAt[i+1], newAt[i+1] = oldAt[i], newAt[i]
		if ed.op != '+' {
			oldAt[i+1]++
		}
		if ed.op != '-' {
			newAt[i+1]++
		}
	}

	for i := 0; i < len(edits); {
		if edits[i].op == ' ' {
			i++
			continue
		}
		// edits[i] starts a hunk. Extend it over every change that is
		// at most 2*contextLines unchanged lines away from the last.
		start := max(0, i-contextLines)
		end := i
		for end < len(edits) {
			for end < len(edits) && edits[end].op != ' ' {
				end++
			}
			same := end
			for same < len(edits) && edits[same].op == ' ' {
				same++
			}
			if same == len(edits) || same-end > 2*contextLines {
				end = min(same, end+contextLines)
				break
			}
			end = same
		}
		writeHunk(&out, edits[start:end], oldAt[start], oldAt[end], newAt[start], newAt[end])
		i = end
	}
	return out.Bytes()
}

// writeHunk writes one hunk: the edits between old lines [o0, o1) and new
// lines [n0, n1).
func writeHunk(out *bytes.Buffer, edits []edit, o0, o1, n0, n1 int) {
	fmt.Fprintf(out, "@@ -%s +%s @@\n", hunkRange(o0, o1), hunkRange(n0, n1))
	for _, ed := range edits {
		out.WriteByte(ed.op)
		out.WriteString(ed.line)
		if len(ed.line) == 0 || ed.line[len(ed.line)-1] != '\n' {
			out.WriteString("\n\\ No newline at end of file\n")
		}
	}
}

// hunkRange formats the lines [from, to) for a hunk header: the first line
// counted from 1, and the number of lines. An empty range names the line
// before it, as diff -u does.
func hunkRange(from, to int) string {
	if from == to {
		return fmt.Sprintf("%d,0", from)
	}
	return fmt.Sprintf("%d,%d", from+1, to-from)
}

// splitLines splits text after each newline. The last line lacks a newline
// when the text does not end with one.
func splitLines(text []byte) []string {
	var lines []string
	for len(text) > 0 {
		i := bytes.IndexByte(text, '\n') + 1
		if i == 0 {
			i = len(text)
		}
		lines = append(lines, string(text[:i]))
		text = text[i:]
	}
	return lines
}

// An edit is one line of a diff: kept (' '), deleted ('-') or inserted
// ('+').
type edit struct {
	op   byte
	line string
}

// script returns a shortest edit script from a to b: every line of a
// and b once, in order, deletions before insertions where both are
// possible.
func script(a, b []string) []edit {
	// Compare small integers rather than strings.
	ids := make(map[string]int)
	intern := func(lines []string) []int {
		out := make([]int, len(lines))
		for i, s := range lines {
			id, ok := ids[s]
			if !ok {
				id = len(ids)
				ids[s] = id
			}
			out[i] = id
		}
		return out
	}
	ia, ib := intern(a), intern(b)

	// A line that is only on one side is never kept. Leaving such lines
	// out before the search does not change what it finds, and makes a
	// diff of two wholly different texts immediate.
	inA := make([]bool, len(ids))
	inB := make([]bool, len(ids))
	for _, id := range ia {
		inA[id] = true
	}
	for _, id := range ib {
		inB[id] = true
	}
	var d differ
	var mapA, mapB []int // indexes in a and b of the lines the search sees
	for i, id := range ia {
		if inB[id] {
			d.a = append(d.a, id)
			mapA = append(mapA, i)
		}
	}
	for j, id := range ib {
		if inA[id] {
			d.b = append(d.b, id)
			mapB = append(mapB, j)
		}
	}
	d.keepA = make([]bool, len(d.a))
	d.keepB = make([]bool, len(d.b))
	d.compare(0, len(d.a), 0, len(d.b))
	keepA := make([]bool, len(a))
	keepB := make([]bool, len(b))
	for i, k := range d.keepA {
		keepA[mapA[i]] = k
	}
	for j, k := range d.keepB {
		keepB[mapB[j]] = k
	}

	edits := make([]edit, 0, max(len(a), len(b)))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && !keepA[i]:
			edits = append(edits, edit{'-', a[i]})
			i++
		case j < len(b) && !keepB[j]:
			edits = append(edits, edit{'+', b[j]})
			j++
		default:
			// Kept lines of a and b pair up in order.
			edits = append(edits, edit{' ', a[i]})
			i++
			j++
		}
	}
	return edits
}

// A differ finds a longest common subsequence of a and b with Myers's
// O(ND) algorithm in its linear-space form: find the middle snake of a
// shortest edit path, then solve the two halves on either side of it. It
// marks the lines of the subsequence in keepA and keepB. Time is
// O((N+M)D) for N+M lines and D differences; memory is O(N+M).
type differ struct {
	a, b         []int
	keepA, keepB []bool
	vf, vb       []int // furthest-reaching x per diagonal, forward and backward
}

// compare marks the common lines of a[a0:a1] and b[b0:b1].
func (d *differ) compare(a0, a1, b0, b1 int) {
	for a0 < a1 && b0 < b1 && d.a[a0] == d.b[b0] {
		d.keepA[a0], d.keepB[b0] = true, true
		a0++
		b0++
	}
	for a0 < a1 && b0 < b1 && d.a[a1-1] == d.b[b1-1] {
		a1--
		b1--
		d.keepA[a1], d.keepB[b1] = true, true
	}
	if a0 == a1 || b0 == b1 {
		return // only deletions or only insertions are left
	}
	// Both ends differ and both sides are non-empty, so the edit distance
	// is at least 2 and each half below is strictly closer than the whole.
	x0, y0, x1, y1, ok := d.middleSnake(a0, a1, b0, b1)
	if !ok {
		return // cannot happen; the lines left unmarked are still a valid diff
	}
	for x, y := x0, y0; x < x1; x, y = x+1, y+1 {
		d.keepA[x], d.keepB[y] = true, true
	}
	d.compare(a0, x0, b0, y0)
	d.compare(x1, a1, y1, b1)
}

// unreached marks a diagonal that no path of the current length reaches
// inside the edit graph.
const unreached = -1

// middleSnake returns the middle snake, from (x0, y0) to (x1, y1), of a
// shortest edit path from (a0, b0) to (a1, b1): the diagonal run where the
// search forward from the start and the search back from the end meet.
func (d *differ) middleSnake(a0, a1, b0, b1 int) (x0, y0, x1, y1 int, ok bool) {
	a, b := d.a[a0:a1], d.b[b0:b1]
	n, m := len(a), len(b)
	delta := n - m
	odd := delta%2 != 0
	limit := (n + m + 1) / 2
	// Diagonal k (x - y = k) is at index k+off, for k in
	// [-limit-1, limit+1].
	off := limit + 1
	size := 2*limit + 3
	if cap(d.vf) < size {
		d.vf = make([]int, size)
		d.vb = make([]int, size)
	}
	vf, vb := d.vf[:size], d.vb[:size]
	for i := range vf {
		vf[i], vb[i] = unreached, unreached
	}
	// Both searches start as if coming down from diagonal 1 to (0, 0).
	vf[off+1], vb[off+1] = 0, 0

	// step advances the search in v by one edit on diagonal k: the
	// furthest of a step right from diagonal k-1 and a step down from
	// k+1 that stays inside the n x m edit graph, then along the
	// diagonal while the lines (read through eq) are equal. It returns
	// where the edit and the diagonal run end, or ok false when no path
	// reaches diagonal k.
	step := func(v []int, k int, eq func(x, y int) bool) (sx, sy, x, y int, ok bool) {
		x = unreached
		if r := v[off+k-1]; r != unreached && r+1 <= n {
			x = r + 1 // right: a deletion
		}
		if dn := v[off+k+1]; dn != unreached && dn-k <= m && dn > x {
			x = dn // down: an insertion
		}
		if x == unreached || x-k < 0 {
			return 0, 0, 0, 0, false
		}
		y = x - k
		sx, sy = x, y
		for x < n && y < m && eq(x, y) {
			x++
			y++
		}
		return sx, sy, x, y, true
	}
	fwd := func(x, y int) bool { return a[x] == b[y] }
	bwd := func(x, y int) bool { return a[n-1-x] == b[m-1-y] }

	for k := 0; k <= limit; k++ {
		// Forward: vf[k] is the furthest x on diagonal k after k edits.
		for dk := -k; dk <= k; dk += 2 {
			sx, sy, x, y, reached := step(vf, dk, fwd)
			if !reached {
				vf[off+dk] = unreached
				continue
			}
			vf[off+dk] = x
			// The backward search, one edit behind, is on diagonal
			// delta-dk of the reversed graph.
			if rk := delta - dk; odd && -(k-1) <= rk && rk <= k-1 && vb[off+rk] != unreached && x+vb[off+rk] >= n {
				return a0 + sx, b0 + sy, a0 + x, b0 + y, true
			}
		}
		// Backward: vb[k] is how far x has come from the end on diagonal
		// k of the reversed graph after k edits.
		for dk := -k; dk <= k; dk += 2 {
			sx, sy, x, y, reached := step(vb, dk, bwd)
			if !reached {
				vb[off+dk] = unreached
				continue
			}
			vb[off+dk] = x
			if fk := delta - dk; !odd && -k <= fk && fk <= k && vf[off+fk] != unreached && x+vf[off+fk] >= n {
				return a0 + n - x, b0 + m - y, a0 + n - sx, b0 + m - sy, true
			}
		}
	}
	return 0, 0, 0, 0, false
}
