//go:build cuda

package cuda

/*
#include <cuda.h>
#include "params.h"
*/
import "C"

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
	"unsafe"
)

// Result is what Generate produced and how long it took.
type Result struct {
	Tokens  []int         // the generated tokens
	Prefill time.Duration // the prompt's steps, up to and including the first generated token
	Decode  time.Duration // the steps of the other generated tokens
}

// begin checks tokens, uploads them as the prompt and resets the step
// state to the first of them.
func (e *Engine) begin(prompt []int, total int) error {
	if len(prompt) == 0 {
		return fmt.Errorf("cuda: an empty prompt")
	}
	if total > e.o.MaxContext {
		return fmt.Errorf("cuda: %d tokens do not fit the context of %d", total, e.o.MaxContext)
	}
	b := make([]byte, 4*len(prompt))
	for i, t := range prompt {
		if t < 0 || t >= e.cfg.Vocab {
			return fmt.Errorf("cuda: prompt token %d at position %d is outside the vocabulary [0, %d)", t, i, e.cfg.Vocab)
		}
		binary.LittleEndian.PutUint32(b[4*i:], uint32(t))
	}
	if err := e.d.sync(); err != nil {
		return err
	}
	if err := e.d.upload(e.prompt, b); err != nil {
		return err
	}
	return e.reset(prompt[0], len(prompt))
}

// reset sets the step state to position 0, running token first, with a
// prompt of promptLen tokens on the device; the caller has synchronised.
func (e *Engine) reset(first, promptLen int) error {
	st := C.StepState{pos: 0, token: C.int(first), prompt_len: C.int(promptLen)}
	e.pos = 0
	return e.d.upload(e.state, unsafe.Slice((*byte)(unsafe.Pointer(&st)), unsafe.Sizeof(st)))
}

// Generate runs the prompt and then n tokens chosen greedily, each step
// one graph launch, with no synchronisation in between.
func (e *Engine) Generate(prompt []int, n int) (*Result, error) {
	if n < 1 {
		return nil, fmt.Errorf("cuda: %d tokens to generate", n)
	}
	if err := e.begin(prompt, len(prompt)+n); err != nil {
		return nil, err
	}
	t0, err := e.d.newTimer()
	if err != nil {
		return nil, err
	}
	defer t0.destroy()
	t1, err := e.d.newTimer()
	if err != nil {
		return nil, err
	}
	defer t1.destroy()
	if err := e.d.mark(t0.start); err != nil {
		return nil, err
	}
	if err := e.runPrompt(prompt); err != nil {
		return nil, err
	}
	if err := e.d.mark(t0.stop); err != nil {
		return nil, err
	}
	if err := e.d.mark(t1.start); err != nil {
		return nil, err
	}
	for range n - 1 {
		if err := e.runStep(); err != nil {
			return nil, err
		}
	}
	if err := e.d.mark(t1.stop); err != nil {
		return nil, err
	}
	pre, err := t0.elapsed()
	if err != nil {
		return nil, err
	}
	dec, err := t1.elapsed()
	if err != nil {
		return nil, err
	}
	e.pos = len(prompt) + n - 1
	out := make([]byte, 4*(len(prompt)+n))
	if err := e.d.download(out, e.out); err != nil {
		return nil, err
	}
	r := &Result{Prefill: ms(pre), Decode: ms(dec)}
	for i := range n {
		r.Tokens = append(r.Tokens, int(int32(binary.LittleEndian.Uint32(out[4*(len(prompt)+i):]))))
	}
	return r, nil
}

func ms(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }

// TeacherForced runs tokens one step each and calls fn after each step
// with the logits of the next token and, when Options.RecordHidden is
// set, the residual stream after each layer (nil otherwise). The slices
// are reused between calls.
func (e *Engine) TeacherForced(tokens []int, fn func(pos int, logits []float32, hidden [][]float32)) error {
	if err := e.begin(tokens, len(tokens)); err != nil {
		return err
	}
	lb := make([]byte, 4*e.cfg.Vocab)
	logits := make([]float32, e.cfg.Vocab)
	var hb []byte
	var hidden [][]float32
	if e.o.RecordHidden {
		hb = make([]byte, 4*e.hidden*e.cfg.Layers)
		hidden = make([][]float32, e.cfg.Layers)
		for i := range hidden {
			hidden[i] = make([]float32, e.hidden)
		}
	}
	for pos := range tokens {
		if err := e.runStep(); err != nil {
			return err
		}
		e.pos++
		if err := e.d.download(lb, e.logits); err != nil {
			return err
		}
		floats(logits, lb)
		if hidden != nil {
			if err := e.d.download(hb, e.hid); err != nil {
				return err
			}
			for i := range hidden {
				floats(hidden[i], hb[4*i*e.hidden:])
			}
		}
		fn(pos, logits, hidden)
	}
	return nil
}

// Routing returns the experts each sparse layer chose at positions [0, n)
// of the last run: [layer][pos][k], nil for dense layers.
func (e *Engine) Routing(n int) ([][][]int, error) {
	stride := (e.o.MaxContext + 1) * e.topk
	b := make([]byte, 4*stride*e.cfg.Layers)
	if err := e.d.download(b, e.trace); err != nil {
		return nil, err
	}
	out := make([][][]int, e.cfg.Layers)
	for l := range out {
		if !e.layers[l].sparse {
			continue
		}
		out[l] = make([][]int, n)
		for p := range n {
			out[l][p] = make([]int, e.topk)
			for k := range e.topk {
				out[l][p][k] = int(int32(binary.LittleEndian.Uint32(b[4*(l*stride+p*e.topk+k):])))
			}
		}
	}
	return out, nil
}

func floats(dst []float32, b []byte) {
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
}

// Start begins a sequence of at most n tokens that Step runs one token at
// a time.
func (e *Engine) Start(n int) error {
	if n > e.o.MaxContext {
		return fmt.Errorf("cuda: %d tokens do not fit the context of %d", n, e.o.MaxContext)
	}
	if err := e.d.sync(); err != nil {
		return err
	}
	return e.reset(0, 0)
}

// Step runs token id at the next position and returns the logits of the
// next token, in a slice the engine reuses.
func (e *Engine) Step(id int) ([]float32, error) {
	if id < 0 || id >= e.cfg.Vocab {
		return nil, fmt.Errorf("cuda: token %d is outside the vocabulary [0, %d)", id, e.cfg.Vocab)
	}
	if e.pos >= e.o.MaxContext {
		return nil, fmt.Errorf("cuda: the context of %d tokens is full", e.o.MaxContext)
	}
	if err := e.d.sync(); err != nil {
		return nil, err
	}
	// The graph's last kernel set the state's token to its own choice:
	// this one replaces it.
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(id))
	if err := e.d.upload(e.state+C.CUdeviceptr(unsafe.Offsetof(C.StepState{}.token)), b[:]); err != nil {
		return nil, err
	}
	if err := e.runStep(); err != nil {
		return nil, err
	}
	e.pos++
	if e.logitBuf == nil {
		e.logitBuf = make([]byte, 4*e.cfg.Vocab)
		e.logitF = make([]float32, e.cfg.Vocab)
	}
	if err := e.d.download(e.logitBuf, e.logits); err != nil {
		return nil, err
	}
	floats(e.logitF, e.logitBuf)
	return e.logitF, nil
}

// Profile runs steps decode steps kernel by kernel (not as the graph),
// with an event before and after each launch, and returns each kernel's
// GPU time and bytes, summed over the steps. It continues the sequence
// Start began (Step's position), as Step would, choosing greedily.
func (e *Engine) Profile(steps int) ([]KernelTime, error) {
	if e.pos+steps > e.o.MaxContext {
		return nil, fmt.Errorf("cuda: %d steps from position %d do not fit the context of %d", steps, e.pos, e.o.MaxContext)
	}
	if e.h != nil {
		return nil, fmt.Errorf("cuda: Profile times the step as one graph; this engine runs it on the host loop (Options.Experts, Options.Route)")
	}
	if err := e.d.sync(); err != nil {
		return nil, err
	}
	e.d.prof = &profiler{}
	defer func() {
		e.d.prof.destroy()
		e.d.prof = nil
	}()
	for range steps {
		e.profPos = e.pos
		if err := e.launchStep(nil); err != nil {
			return nil, err
		}
		e.pos++
	}
	return e.d.prof.collect()
}
