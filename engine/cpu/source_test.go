package cpu

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moepolicy/moec/model"
)

// weightsSource is an ExpertSource that hands out a fully loaded model's
// experts and records the calls.
type weightsSource struct {
	w     *Weights
	calls []int
	done  int
}

func (s *weightsSource) Experts(layer int, r Routing) ([]*MLP, error) {
	s.calls = append(s.calls, layer)
	var out []*MLP
	for _, e := range r.Experts {
		out = append(out, &s.w.Layers[layer].Experts[e])
	}
	return out, nil
}

func (s *weightsSource) Done(int) error { s.done++; return nil }

// TestExpertSource checks that a session over LoadSkeleton's weights
// takes each sparse layer's experts from its ExpertSource, once per
// sparse layer per token and computing what the full model does, and
// that without one it says the experts are missing.
func TestExpertSource(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "models", "qwen2_moe")
	cfg, full := load(t, dir)
	ck, err := model.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	skel, err := LoadSkeleton(cfg, ck)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range skel.Layers {
		if l.Experts != nil {
			t.Fatal("LoadSkeleton loaded experts")
		}
	}
	a, _ := NewSession(full, 4)
	b, _ := NewSession(skel, 4)
	src := &weightsSource{w: full}
	b.UseExperts(src)
	for _, id := range []int{1, 17, 42} {
		want, err := a.Step(id)
		if err != nil {
			t.Fatal(err)
		}
		got, err := b.Step(id)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("token %d: logits differ", id)
		}
	}
	sparse := len(cfg.MoELayers)
	if len(src.calls) != 3*sparse || src.done != 3*sparse {
		t.Errorf("%d Experts and %d Done calls over 3 tokens of %d sparse layers", len(src.calls), src.done, sparse)
	}
	c, _ := NewSession(skel, 4)
	if _, err := c.Step(1); err == nil || !strings.Contains(err.Error(), "experts were not loaded") {
		t.Errorf("a skeleton without an ExpertSource: error %v", err)
	}
}
