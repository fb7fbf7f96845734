package replay_test

import (
	"strings"
	"testing"
	"time"

	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/replay"
)

func TestReadCalibration(t *testing.T) {
	const run = `{"model": "m", "prefill_ms": 10, "policy": {"name": "lru"},
	"calibration": {"gpu_token_ms": 2.5, "host_layer_ms": 0.04, "copy_gbps": 50, "expert_bytes": 1000, "moe_layers": 2, "tokens": 8}}`
	c, err := replay.ReadCalibration(strings.NewReader(run), "run.json")
	if err != nil {
		t.Fatal(err)
	}
	want := replay.Calibration{GPUTokenMS: 2.5, HostLayerMS: 0.04, CopyGBps: 50, ExpertBytes: 1000, MoELayers: 2, Tokens: 8}
	if c != want {
		t.Errorf("ReadCalibration = %+v, want %+v", c, want)
	}
	if c.GPUToken() != 2500*time.Microsecond || c.HostLayer() != 40*time.Microsecond {
		t.Errorf("GPUToken, HostLayer = %v, %v; want 2.5ms, 40µs", c.GPUToken(), c.HostLayer())
	}
	if err := c.Check(rt.Shape{Layers: 2, Experts: 4, TopK: 2, ExpertBytes: 1000}); err != nil {
		t.Errorf("Check of its own shape: %v", err)
	}
	const other = "measured on a model of 2 MoE layers and experts of 1000 bytes; this one has 3 MoE layers and experts of 1000 bytes"
	if err := c.Check(rt.Shape{Layers: 3, Experts: 4, TopK: 2, ExpertBytes: 1000}); err == nil || err.Error() != other {
		t.Errorf("Check of another shape: %v, want %q", err, other)
	}

	// A run that exposed no copy has no rate.
	c, err = replay.ReadCalibration(strings.NewReader(`{"calibration": {"gpu_token_ms": 2.5, "host_layer_ms": 0, "expert_bytes": 1000, "moe_layers": 2, "tokens": 8}}`), "run.json")
	if err != nil || c.CopyGBps != 0 {
		t.Errorf("without copy_gbps: %+v, %v", c, err)
	}
}

func TestReadCalibrationErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{``, `run.json: not a moec run -json report: EOF`},
		{`{"calibration": `, `run.json: not a moec run -json report: unexpected EOF`},
		{`[1, 2]`, `run.json: not a moec run -json report: found array, want an object`},
		{`{"model": "m"}`, `run.json: no "calibration" object (moec run -json writes one under -policy on the GPU)`},
		{`{"calibration": null}`, `run.json: no "calibration" object (moec run -json writes one under -policy on the GPU)`},
		{`{"calibration": [1]}`, `run.json: "calibration": found array, want an object`},
		{`{"calibration": {"gpu_token_ms": 2.5, "expert_bytes": 1000, "moe_layers": 2, "tokens": 8}}`, `run.json: "calibration" has no "host_layer_ms"`},
		{`{"calibration": {"gpu_token_ms": "2.5", "host_layer_ms": 0, "expert_bytes": 1000, "moe_layers": 2, "tokens": 8}}`,
			`run.json: "calibration": gpu_token_ms: found string, want a number`},
		{`{"calibration": {"gpu_token_ms": 2.5, "host_layer_ms": 0, "expert_bytes": 1000, "moe_layers": 2, "tokens": 8.5}}`,
			`run.json: "calibration": tokens: found number 8.5, want a whole number`},
		{`{"calibration": {"gpu_token_ms": -1, "host_layer_ms": 0, "expert_bytes": 1000, "moe_layers": 2, "tokens": 8}}`,
			`run.json: "calibration": gpu_token_ms -1: want a finite number of 0 or more`},
		{`{"calibration": {"gpu_token_ms": 0, "host_layer_ms": 0, "expert_bytes": 1000, "moe_layers": 2, "tokens": 8}}`,
			`run.json: "calibration": gpu_token_ms 0: a token takes time on the GPU`},
		{`{"calibration": {"gpu_token_ms": 1, "host_layer_ms": 0, "copy_gbps": -3, "expert_bytes": 1000, "moe_layers": 2, "tokens": 8}}`,
			`run.json: "calibration": copy_gbps -3: want a finite number of 0 or more`},
		{`{"calibration": {"gpu_token_ms": 1, "host_layer_ms": 0, "expert_bytes": 0, "moe_layers": 2, "tokens": 8}}`,
			`run.json: "calibration": expert_bytes 0: want 1 or more`},
		{`{"calibration": {"gpu_token_ms": 1, "host_layer_ms": 0, "expert_bytes": 10, "moe_layers": 0, "tokens": 8}}`,
			`run.json: "calibration": moe_layers 0: want 1 or more`},
		{`{"calibration": {"gpu_token_ms": 1, "host_layer_ms": 0, "expert_bytes": 10, "moe_layers": 1, "tokens": 0}}`,
			`run.json: "calibration": tokens 0: want 1 or more`},
	} {
		_, err := replay.ReadCalibration(strings.NewReader(tc.in), "run.json")
		if err == nil || err.Error() != tc.want {
			t.Errorf("ReadCalibration(%s):\n got %v\nwant %s", tc.in, err, tc.want)
		}
	}
}

func TestCostModelValidateEngineTerms(t *testing.T) {
	m := replay.DefaultCostModel()
	m.GPUToken = -time.Millisecond
	if err := m.Validate(); err == nil || err.Error() != "GPU time of a token -1ms: want 0 or more" {
		t.Errorf("Validate = %v", err)
	}
	m = replay.DefaultCostModel()
	m.HostLayer = -time.Microsecond
	if err := m.Validate(); err == nil || err.Error() != "host time of a dispatch -1µs: want 0 or more" {
		t.Errorf("Validate = %v", err)
	}
}
