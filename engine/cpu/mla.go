package cpu

// latentAttention sets s.att to the attention output of decoder layer i
// for the normalised token s.h: DeepSeek-V2's multi-head latent attention
// as transformers' DeepseekV2Attention computes it (modeling_deepseek_v2.py):
//
//	q = Q h, or QB(QANorm(QA h))            per head [q_nope, q_rope]
//	[c, k_rope] = KVA h                     c: KVLoraRank, k_rope: QKRope
//	[k_nope, v] = KVB(KVANorm(c))           per head
//	q_rope, k_rope = RoPE(q_rope), RoPE(k_rope)  pairs interleaved, complex form
//	k = [k_nope, k_rope] per head           k_rope shared by every head
//	out = softmax(q . k * Scale) v          per head, over the cached positions
//
// The cache keeps each head's full key and value, as transformers' does,
// so that every number the oracle uses is one transformers computed.
func (s *Session) latentAttention(i int, l *Layer) {
	d := s.w.Dims
	m := d.MLA
	qk := m.QKNope + m.QKRope
	if l.QA != nil {
		matVec(s.qa, l.QA, s.h, nil)
		rmsNorm(s.qa, s.qa, l.QANorm, m.NormEps)
		matVec(s.q, l.QB, s.qa, nil)
	} else {
		matVec(s.q, l.Q, s.h, nil)
	}
	for h := range d.Heads {
		ropeInterleaved(s.q[h*qk+m.QKNope:(h+1)*qk], s.cos, s.sin)
	}

	matVec(s.ckv, l.KVA, s.h, nil)
	c, kRope := s.ckv[:m.KVLoraRank], s.ckv[m.KVLoraRank:]
	ropeInterleaved(kRope, s.cos, s.sin)
	rmsNorm(c, c, l.KVANorm, m.NormEps)
	matVec(s.kvb, l.KVB, c, nil)

	kv := m.QKNope + m.VHead
	for h := range d.Heads {
		kh := s.k[h*qk : (h+1)*qk]
		copy(kh, s.kvb[h*kv:h*kv+m.QKNope])
		copy(kh[m.QKNope:], kRope)
		copy(s.v[h*m.VHead:(h+1)*m.VHead], s.kvb[h*kv+m.QKNope:(h+1)*kv])
	}
	copy(s.kc[i][s.pos*s.kRow:], s.k)
	copy(s.vc[i][s.pos*s.vRow:], s.v)
	attention(s.att, s.q, s.kc[i], s.vc[i], s.scores, d.Heads, d.Heads, qk, m.VHead, s.pos+1, m.Scale)
}
