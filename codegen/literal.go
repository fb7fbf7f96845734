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
// literal, fields in declaration order, leaving out zero fields but for
// enumerations (lru is the zero eviction, and reads better written).
// Maps (Spec.KeyPos) are left out: the generated code cites positions in
// comments instead. With elide, the type of a struct (or &struct) is left
// out, as gofmt -s wants inside a composite literal.
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
// writing: an enumeration that matters there (lru, none, gpu_only,
// uniform, hit_rate, <, eviction = are all zero).
func keepZero(v reflect.Value, field string) bool {
	switch a := v.Interface().(type) {
	case rt.CacheSpec:
		return field == "Eviction" || a.Eviction == rt.Fallback && (field == "Primary" || field == "Secondary")
	case rt.PrefetchSpec:
		return field == "Strategy"
	case rt.ScheduleSpec:
		return field == "Mode"
	case rt.PerLayerSpec:
		return field == "Allocation"
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
