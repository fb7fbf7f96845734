//go:build !cuda

package engine

import (
	"errors"

	"github.com/moepolicy/moec/model"
)

// openCUDA is the CUDA backend of a binary built without it.
func openCUDA(*model.Config, *model.Checkpoint, Options, *routeTrace) (backend, *placer, error) {
	return nil, nil, errors.New("engine: this moec was built without CUDA; build it with -tags cuda (docs/GPU.md says how) or run with -device cpu")
}
