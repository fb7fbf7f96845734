package spell

import "testing"

func TestSuggest(t *testing.T) {
	words := []string{"lru", "lfu", "score", "frequency_threshold", "fallback"}
	tests := []struct {
		word, want string
	}{
		{"lruu", "lru"},
		{"lur", "lru"},
		{"scor", "score"},
		{"frequency_treshold", "frequency_threshold"},
		{"fallbak", "fallback"},
		{"mru", "lru"},
		{"belady", ""},
		{"lru", ""}, // a valid word needs no suggestion
		{"", ""},
	}
	for _, tt := range tests {
		if got := Suggest(tt.word, words); got != tt.want {
			t.Errorf("Suggest(%q) = %q, want %q", tt.word, got, tt.want)
		}
	}
}

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "abc", 0},
		{"abc", "acb", 1},
		{"kitten", "sitting", 3},
		{"", "abc", 3},
	}
	for _, tt := range tests {
		if got := distance(tt.a, tt.b); got != tt.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
