package cpu

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/moepolicy/moec/model"
)

// TestFits checks the memory the reference asks for: every weight in
// float32 without a policy, and under one only the weights but the
// routed experts, which stay as stored. DeepSeek-V2-Lite's 15.7 B
// parameters are 58.5 GiB in float32, but 1.3 B non-expert ones in
// float32 and 14.4 B expert ones in bf16 are 31.7 GiB: a machine of 48
// GiB runs it under a policy.
func TestFits(t *testing.T) {
	cfg, err := model.ReadConfig(filepath.Join("..", "..", "model", "testdata", "deepseek-v2-lite.json"))
	if err != nil {
		t.Fatal(err)
	}
	const avail = 48 << 30
	experts := 2 * cfg.ExpertParams() * int64(len(cfg.MoELayers)*cfg.Experts) // bf16
	err = fits(cfg, 4*cfg.TotalParams(), 0, avail, true)
	if err == nil || !strings.Contains(err.Error(), "needs 58.5 GiB of memory in float32, but 48.0 GiB is available") {
		t.Errorf("every weight in float32: %v", err)
	}
	if err := fits(cfg, 4*cfg.NonExpertParams().Total(), experts, avail, true); err != nil {
		t.Errorf("under a policy: %v", err)
	}
	err = fits(cfg, 4*cfg.NonExpertParams().Total(), experts, 16<<30, true)
	if err == nil || !strings.Contains(err.Error(), "of weights in float32") {
		t.Errorf("under a policy in 16 GiB: %v", err)
	}
	if err := fits(cfg, 4*cfg.TotalParams(), 0, 0, false); err != nil {
		t.Errorf("memory unknown: %v", err)
	}
}
