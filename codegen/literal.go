package codegen

import (
	"fmt"
	"reflect"

	"github.com/dave/jennifer/jen"
	"github.com/moepolicy/moec/rt"
)

const rtPath = "github.com/moepolicy/moec/rt"

// enumNames spell rt's enumerations as its constants, so that a generated
// Spec reads like one written by hand.
var enumNames = map[reflect.Type][]string{
	reflect.TypeFor[rt.Eviction]():         {"LRU", "LFU", "Score", "FrequencyThreshold", "Fallback"},
	reflect.TypeFor[rt.PrefetchStrategy](): {"PrefetchNone", "Affinity", "History", "Lookahead"},
	reflect.TypeFor[rt.ScheduleMode]():     {"GPUOnly", "CPUFallback", "Hybrid"},
	reflect.TypeFor[rt.Allocation]():       {"Uniform", "Entropy", "TopKMass", "Variance", "KL", "Gini"},
	reflect.TypeFor[rt.Metric]():           {"HitRate", "EvictionRate", "MissRate", "PrefetchAccuracy", "TransferRate", "CPURate", "Latency", "Memory"},
	reflect.TypeFor[rt.Op]():               {"LT", "GT", "LE", "GE", "NE"},
	reflect.TypeFor[rt.Target]():           {"SetEviction", "SetCapacity", "SetDecay", "SetStrategy", "SetBudget", "SetMode", "TriggerMemoryPressure", "Rebalance"},
}

// literal renders a value of rt's plain-data types (a rule, a position, a
// list of pins) as a Go composite literal, fields in declaration order,
// leaving out zero fields but for enumerations (lru is the zero eviction,
// and reads better written) and maps. With elide, the type of a struct
// (or &struct) is left out, as gofmt -s wants inside a composite literal.
func literal(v reflect.Value, elide bool) (jen.Code, error) {
	t := v.Type()
	if names, ok := enumNames[t]; ok {
		i := int(v.Uint())
		if i >= len(names) {
			return nil, fmt.Errorf("codegen: %s value %d out of range", t, i)
		}
		return jen.Qual(rtPath, names[i]), nil
	}
	switch v.Kind() {
	case reflect.Bool:
		return jen.Lit(v.Bool()), nil
	case reflect.Int:
		return jen.Lit(int(v.Int())), nil
	case reflect.Float64:
		return jen.Lit(v.Float()), nil
	case reflect.String:
		return jen.Lit(v.String()), nil
	case reflect.Pointer:
		if v.IsNil() {
			return jen.Nil(), nil
		}
		inner, err := literal(v.Elem(), elide)
		if err != nil || elide {
			return inner, err
		}
		return jen.Op("&").Add(inner), nil
	case reflect.Slice:
		elem, err := typeCode(t.Elem())
		if err != nil {
			return nil, err
		}
		var items []jen.Code
		for i := range v.Len() {
			c, err := literal(v.Index(i), true)
			if err != nil {
				return nil, err
			}
			items = append(items, c)
		}
		return jen.Index().Add(elem).Add(multi(items, len(items) > 0 && t.Elem().Kind() == reflect.Struct)), nil
	case reflect.Struct:
		if t.PkgPath() != rtPath {
			return nil, fmt.Errorf("codegen: cannot write a %s", t)
		}
		var items []jen.Code
		for i := range t.NumField() {
			f := v.Field(i)
			if (f.IsZero() && !keepZero(v, t.Field(i).Name)) || f.Kind() == reflect.Map || f.Kind() == reflect.Slice && f.Len() == 0 {
				continue
			}
			c, err := literal(f, false)
			if err != nil {
				return nil, err
			}
			items = append(items, jen.Id(t.Field(i).Name).Op(":").Add(c))
		}
		body := multi(items, len(items) > 3)
		if elide {
			return body, nil
		}
		return jen.Qual(rtPath, t.Name()).Add(body), nil
	}
	return nil, fmt.Errorf("codegen: cannot write a %s", t)
}

// keepZero reports whether the zero value of field of struct v is worth
// writing: an enumeration that matters there (hit_rate, <, eviction = and
// lru are all zero).
func keepZero(v reflect.Value, field string) bool {
	switch a := v.Interface().(type) {
	case rt.Cond:
		return field == "Metric" || field == "Op"
	case rt.Action:
		switch field {
		case "Target":
			return true
		case "Eviction":
			return a.Target == rt.SetEviction
		case "Primary", "Second":
			return a.Target == rt.SetEviction && a.Eviction == rt.Fallback
		case "Strategy":
			return a.Target == rt.SetStrategy
		case "Mode":
			return a.Target == rt.SetMode
		case "Signal":
			return a.Target == rt.Rebalance
		}
	}
	return false
}

// multi renders items in braces, one per line when lines is set.
func multi(items []jen.Code, lines bool) *jen.Statement {
	return jen.Custom(jen.Options{Open: "{", Close: "}", Separator: ",", Multi: lines}, items...)
}

func typeCode(t reflect.Type) (jen.Code, error) {
	switch {
	case t.Kind() == reflect.Int:
		return jen.Int(), nil
	case t.PkgPath() == rtPath:
		return jen.Qual(rtPath, t.Name()), nil
	}
	return nil, fmt.Errorf("codegen: cannot write a %s", t)
}

// fieldKeys returns, for each field of s's blocks that holds something
// other than its default ("Cache.Capacity"), the .moe key that sets it
// (Spec.KeyPos's name, "cache.capacity"), for the positions the state
// literals cite. It asks rt's key table rather than keeping a copy of it:
// a field belongs to the first key whose value (KeyDef.Get) changes when
// the field goes back to its default. A field that two keys set (an
// "A | B" eviction sets Eviction, Primary and Secondary) cites its key.
func fieldKeys(s *rt.Spec) map[string]string {
	def := rt.NewSpec(s.Name, s.Cache.Capacity)
	for _, b := range rt.Blocks() {
		if rt.HasBlock(s, b) {
			rt.OpenBlock(def, b)
		}
	}
	var keys []rt.KeyDef
	for _, b := range rt.Blocks() {
		keys = append(keys, rt.Keys(b)...)
	}
	out := map[string]string{}
	sv, dv := reflect.ValueOf(s).Elem(), reflect.ValueOf(def).Elem()
	for i := range sv.NumField() {
		block, dblock := sv.Field(i), dv.Field(i)
		if block.Kind() == reflect.Pointer {
			if block.IsNil() || dblock.IsNil() {
				continue
			}
			block, dblock = block.Elem(), dblock.Elem()
		}
		if block.Kind() != reflect.Struct || sv.Type().Field(i).Type.PkgPath() != rtPath && block.Type().PkgPath() != rtPath {
			continue
		}
		name := sv.Type().Field(i).Name
		for f := range block.NumField() {
			if !block.Type().Field(f).IsExported() || reflect.DeepEqual(block.Field(f).Interface(), dblock.Field(f).Interface()) {
				continue
			}
			back := s.Clone()
			bv := reflect.ValueOf(back).Elem().Field(i)
			if bv.Kind() == reflect.Pointer {
				bv = bv.Elem()
			}
			bv.Field(f).Set(dblock.Field(f))
			for _, k := range keys {
				was, okWas := k.Get(s)
				now, okNow := k.Get(back)
				if okWas != okNow || okWas && !was.Equal(now) {
					out[name+"."+block.Type().Field(f).Name] = k.Path()
					break
				}
			}
		}
	}
	return out
}

// blockDefaults are the rt functions that return an optional block as a
// block that sets nothing.
var blockDefaults = map[reflect.Type]struct {
	fn    string
	value func() any
}{
	reflect.TypeFor[*rt.MonitorSpec]():  {"DefaultMonitor", func() any { return rt.DefaultMonitor() }},
	reflect.TypeFor[*rt.PerLayerSpec](): {"DefaultPerLayer", func() any { return rt.DefaultPerLayer() }},
}

// states writes the variable that holds the policy's configurations,
// built the way the front end builds them. State 0, the policy as
// written, is rt.NewSpec with the values the policy sets that are not
// defaults, each noted with where it is written. Each later state is the
// state the explorer found it from with the actions of the rule that
// reached it applied (Action.Apply, as the interpreter swaps), each noted
// with where the action is written.
func (g *gen) states(f *jen.File) error {
	s := g.spec
	n := len(g.m.states)
	if n == 1 {
		f.Commentf("%sStates holds the configuration of %s: rt's defaults and what", g.low, g.name)
		f.Commentf("%s sets.", g.opts.Source)
	} else {
		f.Commentf("%sStates holds the configurations of %s: as written (0: rt's", g.low, g.name)
		f.Commentf("defaults and what %s sets), then those its adapt rules switch to,", g.opts.Source)
		f.Comment("in the order they were found.")
	}

	// State 0: the spec with its positions naming the file as the header
	// does, whatever path moec was given (the output must not depend on
	// it), without what the generated code keeps elsewhere.
	st := s.Clone()
	st.Source, st.KeyPos = "", nil
	st.Pos.File = g.opts.Source
	for i := range st.Adapt.Rules {
		st.Adapt.Rules[i].Pos.File = g.opts.Source
		for j := range st.Adapt.Rules[i].Actions {
			st.Adapt.Rules[i].Actions[j].Pos.File = g.opts.Source
		}
	}
	def := rt.NewSpec(st.Name, st.Cache.Capacity)
	g.fieldKeys = fieldKeys(st)
	body := []jen.Code{
		jen.Id("s0").Op(":=").Qual(rtPath, "NewSpec").Call(jen.Lit(st.Name), jen.Lit(st.Cache.Capacity)).Add(g.note("cache.capacity")),
	}
	if err := g.setters(&body, jen.Id("s0"), "", reflect.ValueOf(st).Elem(), reflect.ValueOf(def).Elem()); err != nil {
		return err
	}

	// The later states, from the first transition that reaches each.
	states := []jen.Code{jen.Id("s0")}
	for to := 1; to < n; to++ {
		from, rule, ok := g.reachedBy(to)
		if !ok {
			return fmt.Errorf("codegen: policy %q: state %d has no transition to it", s.Name, to)
		}
		prev, op := fmt.Sprintf("s%d", from), ":="
		for i, a := range s.Adapt.Rules[rule].Actions {
			if a.Target == rt.Rebalance {
				continue // changes no configuration
			}
			action := jen.Id("s0").Dot("Adapt").Dot("Rules").Index(jen.Lit(rule)).Dot("Actions").Index(jen.Lit(i))
			body = append(body, jen.Id(fmt.Sprintf("s%d", to)).Op(op).Add(action).Dot("Apply").Call(jen.Id(prev)).Comment(g.pos(a.Pos)))
			prev, op = fmt.Sprintf("s%d", to), "="
		}
		states = append(states, jen.Id(prev))
	}
	body = append(body, jen.Return(jen.Index(jen.Op("...")).Op("*").Qual(rtPath, "Spec").Values(states...)))
	arr := jen.Index(jen.Lit(n)).Op("*").Qual(rtPath, "Spec")
	f.Var().Id(g.low + "States").Op("=").Func().Params().Add(arr).Block(body...).Call()
	return nil
}

// reachedBy returns the state and the rule of the transition that the
// explorer found state to by: the first one that reaches it.
func (g *gen) reachedBy(to int) (from, rule int, ok bool) {
	for from, row := range g.m.next {
		for rule, t := range row {
			if t.Skip == "" && t.Swap && t.To == to {
				return from, rule, true
			}
		}
	}
	return 0, 0, false
}

// note is the comment citing where key is written; nothing for a default.
func (g *gen) note(key string) *jen.Statement {
	if p, ok := g.spec.KeyPos[key]; ok {
		return jen.Comment(g.pos(p))
	}
	return jen.Null()
}

// setters appends to body the assignments that turn def into got, values
// of the same struct type reached from the state by dst (s0, s0.Cache):
// one per field that differs, recursing into the blocks, each noted with
// where its key is written. parent names the block ("Cache") for the
// notes; "" for the Spec itself.
func (g *gen) setters(body *[]jen.Code, dst *jen.Statement, parent string, got, def reflect.Value) error {
	t := got.Type()
	for i := range t.NumField() {
		name := t.Field(i).Name
		gf, df := got.Field(i), def.Field(i)
		if reflect.DeepEqual(gf.Interface(), df.Interface()) || gf.Kind() == reflect.Slice && gf.Len() == 0 && df.Len() == 0 {
			continue
		}
		to := dst.Clone().Dot(name)
		if parent == "" && gf.Kind() == reflect.Struct && t.Field(i).Type.PkgPath() == rtPath && name != "Pos" {
			if err := g.setters(body, to, name, gf, df); err != nil {
				return err
			}
			continue
		}
		if d, ok := blockDefaults[gf.Type()]; ok && !gf.IsNil() && df.IsNil() {
			*body = append(*body, to.Clone().Op("=").Qual(rtPath, d.fn).Call())
			if err := g.setters(body, to, name, gf.Elem(), reflect.ValueOf(d.value()).Elem()); err != nil {
				return err
			}
			continue
		}
		lit, err := literal(gf, false)
		if err != nil {
			return err
		}
		stmt := to.Op("=").Add(lit)
		if key, ok := g.fieldKeys[parent+"."+name]; ok {
			stmt.Add(g.note(key))
		}
		*body = append(*body, stmt)
	}
	return nil
}
