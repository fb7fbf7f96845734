package replay

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"time"

	"github.com/moepolicy/moec/rt"
)

// Calibration is what a run of the engine measured that CostModel needs to
// predict such runs: moec run -json writes it, as its "calibration"
// object, under a policy on the GPU. A run's time splits into the GPU's
// work outside the waits at the MoE layers, the host's decisions while
// the GPU waits, and the copies the GPU waits for; Calibration gives each
// part as a rate that holds for other plans on the same model and
// machine.
type Calibration struct {
	// GPUTokenMS is the milliseconds of a token's step outside the waits:
	// (prefill + decode - stall) / tokens. It becomes CostModel.GPUToken.
	GPUTokenMS float64 `json:"gpu_token_ms"`
	// HostLayerMS is the host's milliseconds a dispatch while the GPU
	// waits: host / dispatches. It becomes CostModel.HostLayer.
	HostLayerMS float64 `json:"host_layer_ms"`
	// CopyGBps is the rate the demand copies ran at as the GPU saw them:
	// demand bytes / (stall - host), in GB/s; 0 when the run exposed no
	// copy. It prices copies for policies that run every expert on the
	// GPU (gpu_only); where experts run on the CPU or prefetches overlap,
	// the stall holds more than the demand copies and the rate means
	// less. It includes each copy's fixed cost, so it replaces
	// CostModel.PCIeGBps with a CopyLatency of 0.
	CopyGBps float64 `json:"copy_gbps,omitempty"`
	// PCIeGBps and CPUExpertMS are the figures the run calibrated its
	// policy with (engine.PolicyResult.Hardware: the engine's pinned
	// copy bandwidth and CPU time of one expert, measured at start, or
	// given); 0 where the policy took none. A replay decides with them,
	// so that its plans are the run's.
	PCIeGBps    float64 `json:"pcie_gbps,omitempty"`
	CPUExpertMS float64 `json:"cpu_expert_ms,omitempty"`
	// ExpertBytes, MoELayers and Tokens describe the run: the size of an
	// expert and the model's MoE layers (rt.Shape's), and the tokens it
	// ran (each one step of every MoE layer).
	ExpertBytes int64 `json:"expert_bytes"`
	MoELayers   int   `json:"moe_layers"`
	Tokens      int64 `json:"tokens"`
}

// GPUToken returns GPUTokenMS as a Duration.
func (c Calibration) GPUToken() time.Duration { return ns(c.GPUTokenMS * float64(time.Millisecond)) }

// Hardware returns the figures the run calibrated its policy with.
func (c Calibration) Hardware() rt.Hardware {
	return rt.Hardware{PCIeGBps: c.PCIeGBps, CPUExpertMS: c.CPUExpertMS}
}

// HostLayer returns HostLayerMS as a Duration.
func (c Calibration) HostLayer() time.Duration { return ns(c.HostLayerMS * float64(time.Millisecond)) }

// Validate reports a figure no run measures: times and rates that are not
// finite numbers of 0 or more, a GPU time of 0, and counts below 1.
func (c Calibration) Validate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"gpu_token_ms", c.GPUTokenMS}, {"host_layer_ms", c.HostLayerMS}, {"copy_gbps", c.CopyGBps},
		{"pcie_gbps", c.PCIeGBps}, {"cpu_expert_ms", c.CPUExpertMS}} {
		if !(f.v >= 0) || math.IsInf(f.v, 1) {
			return fmt.Errorf("%s %v: want a finite number of 0 or more", f.name, f.v)
		}
	}
	switch {
	case c.GPUTokenMS == 0:
		return errors.New("gpu_token_ms 0: a token takes time on the GPU")
	case c.ExpertBytes < 1:
		return fmt.Errorf("expert_bytes %d: want 1 or more", c.ExpertBytes)
	case c.MoELayers < 1:
		return fmt.Errorf("moe_layers %d: want 1 or more", c.MoELayers)
	case c.Tokens < 1:
		return fmt.Errorf("tokens %d: want 1 or more", c.Tokens)
	}
	return nil
}

// Check reports a shape other than the one c was measured on: a token of
// another model has other compute, and other layers other dispatches.
func (c Calibration) Check(shape rt.Shape) error {
	if c.MoELayers != shape.Layers || c.ExpertBytes != shape.ExpertBytes {
		return fmt.Errorf("measured on a model of %d MoE layers and experts of %d bytes; this one has %d MoE layers and experts of %d bytes",
			c.MoELayers, c.ExpertBytes, shape.Layers, shape.ExpertBytes)
	}
	return nil
}

// calibrationFields are Calibration's keys, each one required: a missing
// figure is a report of another form, not a 0.
var calibrationFields = []string{"gpu_token_ms", "host_layer_ms", "expert_bytes", "moe_layers", "tokens"}

// ReadCalibration reads the "calibration" object of a moec run -json
// report from r; name, the file's name, starts every error. Its other
// keys are not read. copy_gbps may be missing (a run that exposed no
// copy); every other figure must be there and valid (Validate).
func ReadCalibration(r io.Reader, name string) (Calibration, error) {
	var report map[string]json.RawMessage
	if err := json.NewDecoder(r).Decode(&report); err != nil {
		return Calibration{}, fmt.Errorf("%s: not a moec run -json report: %v", name, jsonError(err))
	}
	raw := report["calibration"]
	if len(raw) == 0 || string(raw) == "null" {
		return Calibration{}, fmt.Errorf("%s: no \"calibration\" object (moec run -json writes one under -policy on the GPU)", name)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return Calibration{}, fmt.Errorf("%s: \"calibration\": %v", name, jsonError(err))
	}
	for _, k := range calibrationFields {
		if _, ok := keys[k]; !ok {
			return Calibration{}, fmt.Errorf("%s: \"calibration\" has no %q", name, k)
		}
	}
	var c Calibration
	if err := json.Unmarshal(raw, &c); err != nil {
		return Calibration{}, fmt.Errorf("%s: \"calibration\": %v", name, jsonError(err))
	}
	if err := c.Validate(); err != nil {
		return Calibration{}, fmt.Errorf("%s: \"calibration\": %v", name, err)
	}
	return c, nil
}

// jsonError words encoding/json's errors of a value of the wrong kind
// without Go's types: "tokens: found number 2.5, want a whole number".
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return err
	}
	want := "a number"
	switch te.Type.Kind() {
	case reflect.Map, reflect.Struct:
		want = "an object"
	case reflect.Int, reflect.Int64:
		want = "a whole number"
	}
	if te.Field == "" {
		return fmt.Errorf("found %s, want %s", te.Value, want)
	}
	return fmt.Errorf("%s: found %s, want %s", te.Field, te.Value, want)
}
