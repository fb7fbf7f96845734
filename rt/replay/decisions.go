package replay

import (
	"io"
	"strconv"

	"github.com/moepolicy/moec/rt"
)

// decisionBuffer is the size at which decision lines are written out.
const decisionBuffer = 64 << 10

// AppendDecision appends p as one line of the decisions format and a
// newline:
//
//	{"l":0,"hit":[true,false],"dev":["gpu","cpu"],"load":[],"prefetch":[[0,5]],"evict":[[1,2]]}
//
// "l" is Plan.Layer; "hit" and "dev" are per selected expert in input
// order ("dev" is "gpu" or "cpu"; a device that is neither is written
// "unknown(N)"); "load", "prefetch" and "evict" are [layer, expert] pairs
// in plan order.
func AppendDecision(b []byte, p *rt.Plan) []byte {
	b = append(b, `{"l":`...)
	b = strconv.AppendInt(b, int64(p.Layer), 10)
	b = append(b, `,"hit":[`...)
	for i, h := range p.Hit {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendBool(b, h)
	}
	b = append(b, `],"dev":[`...)
	for i, d := range p.Device {
		if i > 0 {
			b = append(b, ',')
		}
		switch d {
		case rt.GPU:
			b = append(b, `"gpu"`...)
		case rt.CPU:
			b = append(b, `"cpu"`...)
		default:
			b = append(b, `"unknown(`...)
			b = strconv.AppendUint(b, uint64(d), 10)
			b = append(b, `)"`...)
		}
	}
	b = append(b, `],"load":`...)
	b = appendKeys(b, p.Load)
	b = append(b, `,"prefetch":`...)
	b = appendKeys(b, p.Prefetch)
	b = append(b, `,"evict":`...)
	b = appendKeys(b, p.Evict)
	return append(b, "}\n"...)
}

func appendKeys(b []byte, keys []rt.Key) []byte {
	b = append(b, '[')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(k.Layer), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(k.Expert), 10)
		b = append(b, ']')
	}
	return append(b, ']')
}

// decisionWriter buffers decision lines; the first write error sticks.
type decisionWriter struct {
	w   io.Writer
	buf []byte
	err error
}

func (d *decisionWriter) write(p *rt.Plan) error {
	d.buf = AppendDecision(d.buf, p)
	if len(d.buf) >= decisionBuffer {
		return d.flush()
	}
	return d.err
}

// flush writes what is buffered; a nil writer has nothing to flush.
func (d *decisionWriter) flush() error {
	if d == nil {
		return nil
	}
	if d.err == nil && len(d.buf) > 0 {
		_, d.err = d.w.Write(d.buf)
	}
	d.buf = d.buf[:0]
	return d.err
}

// flushAfter writes what is buffered and returns err, the reason replay
// stops (a failed write is secondary to it).
func (d *decisionWriter) flushAfter(err error) error {
	d.flush()
	return err
}
