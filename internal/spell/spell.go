// Package spell suggests the word a user probably meant.
//
// The candidates are always the caller's own table of valid words, so a
// suggestion can never name something the checker would reject.
package spell

// Suggest returns the candidate closest to word by edit distance, or "" if
// none is close enough to be a likely typo: at most one edit for short
// words, at most a third of the word's length for longer ones. Ties go to
// the earlier candidate.
func Suggest(word string, candidates []string) string {
	best, bestDist := "", -1
	limit := max(1, len(word)/3)
	for _, c := range candidates {
		if c == word {
			return "" // a valid word needs no suggestion
		}
		d := distance(word, c)
		if d <= limit && (bestDist < 0 || d < bestDist) {
			best, bestDist = c, d
		}
	}
	return best
}

// distance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and transpositions of adjacent bytes.
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return max(len(a), len(b)) // long input is never a typo of a keyword
	}
	var rows [3][65]int
	prev2, prev, cur := &rows[0], &rows[1], &rows[2]
	for j := 0; j <= len(b); j++ {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
