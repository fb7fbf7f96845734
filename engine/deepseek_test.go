package engine

import (
	"slices"
	"testing"

	"github.com/moepolicy/moec/model/modeltest"
)

// TestDeepSeekV2 checks that a DeepSeek-V2 checkpoint runs through Open
// on the CPU (what moec run -device cpu does): it generates, and under a
// policy that evicts (the dense first layer has no experts to place) it
// generates the same tokens.
func TestDeepSeekV2(t *testing.T) {
	if *testDevice != "cpu" {
		// The GPU path runs a policy's experts from bf16 bytes only:
		// TestPolicySameTokens runs deepseek_v2_qlora there.
		t.Skip("the random checkpoint's experts are float32, which the GPU path's policy store does not copy")
	}
	dir := t.TempDir()
	if _, err := modeltest.WriteModel(dir, modeltest.DeepSeekV2(nil), 3); err != nil {
		t.Fatal(err)
	}
	prompt := []int{1, 17, 42, 9, 7}
	base := openModel(t, dir)
	if base.Config.Family() != "DeepSeek-V2" {
		t.Fatalf("family %q", base.Config.Family())
	}
	want, err := base.Generate(prompt, 8, Sampling{})
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Generated) != 8 {
		t.Fatalf("generated %v", want.Generated)
	}
	shape, err := ExpertShape(dir)
	if err != nil {
		t.Fatal(err)
	}
	spec := policies(t, shape)[0]
	m := openPolicy(t, dir, spec, shape, false)
	got, err := m.Generate(prompt, 8, Sampling{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Generated, want.Generated) {
		t.Errorf("%s: generated %v, without a policy %v", spec.Name, got.Generated, want.Generated)
	}
	if r := m.Policy(); r.Plans.Hits+r.Plans.Misses == 0 {
		t.Errorf("%s placed no expert: %+v", spec.Name, r.Plans)
	}
}
