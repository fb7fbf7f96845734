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

// literal renders a value of rt's plain-data types as a Go composite
// literal, leaving out zero fields. Maps (Spec.KeyPos) are left out: the
// generated code cites positions in comments instead.
func literal(v reflect.Value) (jen.Code, error) {
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
		inner, err := literal(v.Elem())
		if err != nil {
			return nil, err
		}
		return jen.Op("&").Add(inner), nil
	case reflect.Slice:
		elem, err := typeCode(t.Elem())
		if err != nil {
			return nil, err
		}
		var items []jen.Code
		for i := range v.Len() {
			c, err := literal(v.Index(i))
			if err != nil {
				return nil, err
			}
			items = append(items, c)
		}
		return jen.Index().Add(elem).Values(items...), nil
	case reflect.Struct:
		if t.PkgPath() != rtPath {
			return nil, fmt.Errorf("codegen: cannot write a %s", t)
		}
		d := jen.Dict{}
		for i := range t.NumField() {
			f := v.Field(i)
			if f.IsZero() || f.Kind() == reflect.Map || f.Kind() == reflect.Slice && f.Len() == 0 {
				continue
			}
			c, err := literal(f)
			if err != nil {
				return nil, err
			}
			d[jen.Id(t.Field(i).Name)] = c
		}
		return jen.Qual(rtPath, t.Name()).Values(d), nil
	}
	return nil, fmt.Errorf("codegen: cannot write a %s", t)
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
