package cpu

import "math"

// The operations of a decoder layer on one token, in float32 storage. They
// are the oracle, not the fast path: each dot product and each sum of
// squares is accumulated in float64 and rounded once, so the result is the
// float32 nearest the exact one, and transformers' own float32 result
// (blocked sums, fused kernels) lies within a few units in the last place
// of it. Where transformers rounds on purpose (RoPE's float32 frequencies),
// these functions round at the same points.

// dot returns the float64 dot product of a and b, which have the same
// length.
func dot(a, b []float32) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += float64(a[i]) * float64(b[i])
		s1 += float64(a[i+1]) * float64(b[i+1])
		s2 += float64(a[i+2]) * float64(b[i+2])
		s3 += float64(a[i+3]) * float64(b[i+3])
	}
	for ; i < len(a); i++ {
		s0 += float64(a[i]) * float64(b[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// matVec sets dst[r] = w[r,:] . x for the rows of w, a row-major matrix of
// len(dst) rows of len(x) columns, as torch's F.linear(x, w) does, then
// adds bias when it is not nil.
func matVec(dst, w, x, bias []float32) {
	n := len(x)
	w = w[:len(dst)*n]
	for r := range dst {
		s := dot(w[r*n:(r+1)*n], x)
		if bias != nil {
			s += float64(bias[r])
		}
		dst[r] = float32(s)
	}
}

// rmsNorm sets dst = x / sqrt(mean(x^2) + eps) * w, transformers'
// RMSNorm in float32: the reciprocal square root is rounded to float32
// before it scales x, and the product is rounded before the weight
// multiplies it.
func rmsNorm(dst, x, w []float32, eps float32) {
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	variance := float32(ss / float64(len(x)))
	r := float32(1 / math.Sqrt(float64(variance+eps)))
	w = w[:len(x)]
	for i, v := range x {
		dst[i] = w[i] * float32(v*r)
	}
}

// softmax replaces x by its softmax, computed in float64 and rounded once.
func softmax(x []float32) {
	m := float32(math.Inf(-1))
	for _, v := range x {
		m = max(m, v)
	}
	var sum float64
	for _, v := range x {
		sum += math.Exp(float64(v - m))
	}
	for i, v := range x {
		x[i] = float32(math.Exp(float64(v-m)) / sum)
	}
}

// topK writes into idx the indices of the len(idx) largest values of x,
// largest first; equal values keep index order. It is a selection over a
// router's few dozen scores, so a partial insertion sort is the right
// tool.
func topK(idx []int, x []float32) {
	k := len(idx)
	n := 0
	for i, v := range x {
		if n == k && v <= x[idx[k-1]] {
			continue
		}
		j := min(n, k-1)
		for j > 0 && x[idx[j-1]] < v {
			idx[j] = idx[j-1]
			j--
		}
		idx[j] = i
		n = min(n+1, k)
	}
}

// SiLU returns x * sigmoid(x) in float32, as torch's F.silu: the
// activation of every SwiGLU MLP here and of package expert's fast path,
// which calls it so that the two differ only in their sums.
func SiLU(x float32) float32 {
	return float32(float64(x) / (1 + math.Exp(-float64(x))))
}

// sigmoid returns 1 / (1 + exp(-x)) rounded to float32.
func sigmoid(x float32) float32 {
	return float32(1 / (1 + math.Exp(-float64(x))))
}

// ropeAngles sets cos and sin, each of len(inv) entries, for position pos:
// the angle pos * inv[i] rounded to float32, then its cosine and sine
// rounded to float32, scaled by attnScale (1 for plain RoPE, YaRN's
// mscale otherwise).
func ropeAngles(cos, sin, inv []float32, pos int, attnScale float32) {
	for i, f := range inv {
		a := float32(pos) * f
		cos[i] = float32(math.Cos(float64(a))) * attnScale
		sin[i] = float32(math.Sin(float64(a))) * attnScale
	}
}

// ropeNeoX rotates each of the heads of x (heads x headDim, row-major) in
// place by the angles in cos and sin, NeoX style (transformers'
// rotate_half): the first half of a head pairs with the second half,
// x1*cos - x2*sin and x2*cos + x1*sin. The angles cover headDim/2 pairs.
func ropeNeoX(x []float32, headDim int, cos, sin []float32) {
	half := headDim / 2
	for h := 0; h+headDim <= len(x); h += headDim {
		v := x[h : h+headDim]
		for i := range half {
			x1, x2 := v[i], v[i+half]
			// Each product is rounded before the sum, as torch computes
			// q*cos + rotate_half(q)*sin; the conversions keep the
			// compiler from fusing them.
			v[i] = float32(x1*cos[i]) - float32(x2*sin[i])
			v[i+half] = float32(x2*cos[i]) + float32(x1*sin[i])
		}
	}
}

// ropeInterleaved rotates x (one head's rotated part, 2 x len(cos)
// values) in place by the angles in cos and sin, DeepSeek-V2 style: pairs
// (x[2i], x[2i+1]) are complex numbers times cos + i sin, as transformers'
// apply_rotary_emb computes them (view_as_complex, a complex64 product).
func ropeInterleaved(x, cos, sin []float32) {
	for i := range cos {
		re, im := x[2*i], x[2*i+1]
		// Each product is rounded before the sum, as complex64's
		// (a+bi)(c+di) = (ac - bd) + (ad + bc)i; the conversions keep
		// the compiler from fusing them.
		x[2*i] = float32(re*cos[i]) - float32(im*sin[i])
		x[2*i+1] = float32(re*sin[i]) + float32(im*cos[i])
	}
}

// attention computes one token's attention output into out (heads x vDim)
// from its queries q (heads x kDim) and the first n rows of the key cache
// (each row kvHeads x kDim) and value cache (kvHeads x vDim), which
// include the token itself: grouped-query attention, each query head
// reading key/value head h / (heads/kvHeads), softmax(q.k * scale) over
// the n positions (causal by construction: the cache holds no later
// token). scores is scratch of at least n entries.
func attention(out, q, kc, vc, scores []float32, heads, kvHeads, kDim, vDim, n int, scale float32) {
	group := heads / kvHeads
	kRow, vRow := kvHeads*kDim, kvHeads*vDim
	scores = scores[:n]
	for h := range heads {
		qh := q[h*kDim : (h+1)*kDim]
		kOff, vOff := (h/group)*kDim, (h/group)*vDim
		for t := range n {
			scores[t] = float32(dot(qh, kc[t*kRow+kOff:t*kRow+kOff+kDim])) * scale
		}
		softmax(scores)
		oh := out[h*vDim : (h+1)*vDim]
		for d := range oh {
			var s float64
			for t := range n {
				s += float64(scores[t]) * float64(vc[t*vRow+vOff+d])
			}
			oh[d] = float32(s)
		}
	}
}
