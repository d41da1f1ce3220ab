package scenario

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// BuildError is an error of Build: the Go field of the Spec it is about, never a line of
// the YAML Build wrote in between. It unwraps to ErrInvalid, like a LoadError.
type BuildError struct {
	Name  string // the Spec's Name
	Field string // Go field path such as "Hosts[4].NextHop" or "Steps[0].Call.Via"; "" for the whole Spec
	Msg   string
}

// Error formats the error as build scenario "NAME": FIELD: MSG.
func (e *BuildError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("build scenario %q: %s", e.Name, e.Msg)
	}
	return fmt.Sprintf("build scenario %q: %s: %s", e.Name, e.Field, e.Msg)
}

// Unwrap returns ErrInvalid.
func (e *BuildError) Unwrap() error { return ErrInvalid }

// buildError turns the loader's error about the YAML of sp into one about sp's Go fields.
func buildError(sp Spec, err error) error {
	var le *LoadError
	if !errors.As(err, &le) {
		return err
	}
	return &BuildError{Name: sp.Name, Field: goPath(sp, le.Path), Msg: le.Msg}
}

// goPath maps a dotted YAML path of the loader ("hosts.bob.next-hop", "steps[1].call.via")
// to the Go fields of sp ("Hosts[2].NextHop", "Steps[1].Call.Via"): keys by their yaml
// tags, NATs and hosts by their Name. What it cannot map stays as it was, after the
// part it could.
func goPath(sp Spec, path string) string {
	if path == "" {
		return ""
	}
	segs := strings.Split(path, ".")
	v := reflect.ValueOf(sp)
	var out []string
	for i := 0; i < len(segs); i++ {
		key, index := segs[i], -1
		if open := strings.IndexByte(key, '['); open > 0 && strings.HasSuffix(key, "]") {
			if n, err := strconv.Atoi(key[open+1 : len(key)-1]); err == nil {
				key, index = key[:open], n
			}
		}
		for v.Kind() == reflect.Pointer {
			v = v.Elem()
		}
		f, ok := fieldByYAML(v, key)
		if !ok {
			return strings.Join(append(out, segs[i:]...), ".")
		}
		name := f.Name
		v = v.FieldByIndex(f.Index)
		switch {
		case index >= 0 && v.Kind() == reflect.Slice && index < v.Len():
			name += fmt.Sprintf("[%d]", index)
			v = v.Index(index)
		case (f.Name == "NATs" || f.Name == "Hosts") && i+1 < len(segs):
			// A NAT's or host's name is its key in the file, its Name in the Spec.
			i++
			found := false
			for j := 0; j < v.Len(); j++ {
				if v.Index(j).FieldByName("Name").String() == segs[i] {
					name += fmt.Sprintf("[%d]", j)
					v, found = v.Index(j), true
					break
				}
			}
			if !found {
				return strings.Join(append(out, name), ".") + "[" + strconv.Quote(segs[i]) + "]" + tail(segs[i+1:])
			}
		}
		out = append(out, name)
	}
	return strings.Join(out, ".")
}

func tail(segs []string) string {
	if len(segs) == 0 {
		return ""
	}
	return "." + strings.Join(segs, ".")
}

// fieldByYAML finds the field of struct v that the YAML key stands for: its yaml tag,
// or for the sections Spec writes by hand (nats, hosts, steps, expect), its name.
func fieldByYAML(v reflect.Value, key string) (reflect.StructField, bool) {
	if v.Kind() != reflect.Struct {
		return reflect.StructField{}, false
	}
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == key || tag == "-" && strings.EqualFold(f.Name, key) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}
