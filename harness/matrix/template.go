// Package matrix sweeps a scenario over named axes: a template is a scenario file with a
// `matrix:` block (docs/scenario-format.md, "matrix"), and each combination of axis values
// is a cell, an ordinary scenario that runs, is judged and can be written out alone. The
// results form a table of outcomes with a summary of which axis values lose the ACK.
package matrix

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

// Template is a parsed matrix template: the scenario's YAML with the matrix block taken
// out, its axes, the table layout, the per-cell expectation rules and every cell. A
// Template is read-only after Load: its methods may be called from several goroutines.
type Template struct {
	File    string // as given to Load or Parse
	Name    string // the template's scenario name; cells are named after it
	Axes    []Axis // in file order; the first axis varies slowest
	Columns []int  // indexes into Axes of the axes laid out as table columns
	Rules   []Rule // in file order

	root  *yaml.Node // the top-level mapping without the matrix key
	cells []*Cell    // every cell, built and validated by Parse
}

// Axis is one named dimension of the sweep: every cell sets each of Paths to one of Values.
type Axis struct {
	Name   string
	Paths  []Path
	Values []string     // as written (YAML scalars), unique
	nodes  []*yaml.Node // the value nodes, copied into the cells with their lines
	Line   int
}

// Rule adds expectations to the cells whose axis values match When.
type Rule struct {
	When   map[int][]string // axis index -> allowed values
	expect *yaml.Node       // the rule's expect mapping
	Line   int
}

// matches reports whether the cell with values (one per axis) falls under r.
func (r Rule) matches(values []string) bool {
	for i, allowed := range r.When {
		if !slices.Contains(allowed, values[i]) {
			return false
		}
	}
	return true
}

var (
	matrixKeys = []string{"axes", "columns", "expect"}
	axisKeys   = []string{"path", "values"}
	ruleKeys   = []string{"when", "expect"}
	kebab      = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
)

// MaxCells bounds the cells of one template: enough for every RFC 4787 combination of two
// NATs against every policy of three proxies, small enough to stay a table.
const MaxCells = 100000

// Load reads and parses the template at path.
func Load(path string) (*Template, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load matrix %q: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("load matrix %q: %w; a template is a YAML file", path, scenario.ErrNotRegular)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load matrix %q: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, scenario.MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("load matrix %q: %w", path, err)
	}
	return Parse(path, data)
}

// Parse parses and validates a template; file names it in errors, which are
// *scenario.LoadError values (file, line, field path) wrapping scenario.ErrInvalid. Every
// cell is built and validated by the scenario loader, so a template that parses yields
// only valid cells.
func Parse(file string, data []byte) (*Template, error) {
	root, err := decode(file, data)
	if err != nil {
		return nil, err
	}
	if size(root, 0) > maxNodes {
		return nil, errAt(file, root.Line, "", "its aliases expand to more than %d YAML nodes; a scenario is a few hundred", maxNodes)
	}
	t := &Template{File: file, root: root}
	var block *yaml.Node
	blockLine := 0
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "matrix" && block != nil {
			return nil, errAt(file, root.Content[i].Line, "matrix", "duplicate key (first at line %d)", blockLine)
		}
		if root.Content[i].Value == "matrix" {
			block, blockLine = root.Content[i+1], root.Content[i].Line
			t.root = &yaml.Node{Kind: yaml.MappingNode, Tag: root.Tag, Line: root.Line, Column: root.Column,
				Content: slices.Concat(root.Content[:i], root.Content[i+2:])}
		}
		if root.Content[i].Value == "name" {
			t.Name = root.Content[i+1].Value
		}
	}
	if !kebab.MatchString(t.Name) {
		if _, err := scenario.ParseNode(file, t.root); err != nil {
			return nil, err // the loader says what is wrong with the name
		}
	}
	if block == nil {
		return nil, errAt(file, root.Line, "matrix", "missing; a template needs a matrix block with at least one axis (docs/scenario-format.md, matrix)")
	}
	if err := t.block(block); err != nil {
		return nil, err
	}
	n := 1
	for _, a := range t.Axes {
		n *= len(a.Values)
		if n > MaxCells {
			return nil, errAt(file, block.Line, "matrix.axes", "more than %d cells; split the template", MaxCells)
		}
	}
	// Validate every cell now, so that a template that loads never yields a bad cell.
	names := map[string]int{}
	t.cells = make([]*Cell, n)
	for i := range n {
		c, err := t.build(i, false)
		if err != nil {
			return nil, err
		}
		t.cells[i] = c
		if j, dup := names[c.Name]; dup {
			return nil, errAt(file, block.Line, "matrix.axes", "cells %d and %d would both be named %q; make the axis values differ after lower-casing", j, i, c.Name)
		}
		names[c.Name] = i
	}
	return t, nil
}

// decode parses data into its top-level mapping node. Syntax errors are the scenario
// loader's, with their lines.
func decode(file string, data []byte) (*yaml.Node, error) {
	var doc yaml.Node
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("invalid YAML: %v", r)
			}
		}()
		dec := yaml.NewDecoder(bytes.NewReader(data))
		if err := dec.Decode(&doc); err != nil {
			return err
		}
		var next yaml.Node
		if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
			return errors.New("more than one YAML document")
		}
		return nil
	}()
	if err != nil || len(data) > scenario.MaxFileSize || doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		if _, perr := scenario.Parse(file, data); perr != nil {
			return nil, perr // the loader names the line and the reason
		}
		return nil, errAt(file, 1, "", "not a template: %v", err)
	}
	return doc.Content[0], nil
}

func errAt(file string, line int, path, format string, args ...any) error {
	return &scenario.LoadError{File: file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)}
}

func (t *Template) errf(n *yaml.Node, path, format string, args ...any) error {
	return errAt(t.File, n.Line, path, format, args...)
}

// pairs returns the entries of mapping n, refusing anything else, unknown keys (when
// allowed is not nil) and duplicates.
func (t *Template) pairs(n *yaml.Node, path string, allowed []string) ([][2]*yaml.Node, error) {
	if n.Kind != yaml.MappingNode {
		return nil, t.errf(n, path, "must be a mapping, not %s", kind(n))
	}
	var out [][2]*yaml.Node
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := path + "." + k.Value
		if k.Kind != yaml.ScalarNode {
			return nil, t.errf(k, path, "keys must be plain names, not %s", kind(k))
		}
		if allowed != nil && !slices.Contains(allowed, k.Value) {
			return nil, t.errf(k, p, "unknown key; allowed keys: %s", strings.Join(allowed, ", "))
		}
		if line, dup := seen[k.Value]; dup {
			return nil, t.errf(k, p, "duplicate key (first at line %d)", line)
		}
		seen[k.Value] = k.Line
		out = append(out, [2]*yaml.Node{k, v})
	}
	return out, nil
}

func kind(n *yaml.Node) string { return scenario.Kind(deref(n)) }

// block reads the matrix block.
func (t *Template) block(n *yaml.Node) error {
	entries, err := t.pairs(n, "matrix", matrixKeys)
	if err != nil {
		return err
	}
	by := map[string]*yaml.Node{}
	for _, e := range entries {
		by[e[0].Value] = e[1]
	}
	if by["axes"] == nil {
		return t.errf(n, "matrix.axes", "missing; a matrix needs at least one axis")
	}
	if err := t.axes(by["axes"]); err != nil {
		return err
	}
	if err := t.columns(by["columns"]); err != nil {
		return err
	}
	if c := by["expect"]; c != nil {
		return t.rules(c)
	}
	return nil
}

func (t *Template) axes(n *yaml.Node) error {
	entries, err := t.pairs(n, "matrix.axes", nil)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return t.errf(n, "matrix.axes", "empty; a matrix needs at least one axis")
	}
	set := map[string]string{} // path -> axis that sets it
	for _, e := range entries {
		name, path := e[0].Value, "matrix.axes."+e[0].Value
		if !kebab.MatchString(name) {
			return t.errf(e[0], path, "%q is not a valid axis name: use kebab-case, e.g. callee-filtering", name)
		}
		fields, err := t.pairs(e[1], path, axisKeys)
		if err != nil {
			return err
		}
		a := Axis{Name: name, Line: e[0].Line}
		var pathNode, valuesNode *yaml.Node
		for _, f := range fields {
			switch f[0].Value {
			case "path":
				pathNode = f[1]
			case "values":
				valuesNode = f[1]
			}
		}
		if pathNode == nil {
			return t.errf(e[1], path+".path", "missing; an axis names the scenario field it sets, e.g. nats.home-nat.filtering")
		}
		if valuesNode == nil {
			return t.errf(e[1], path+".values", "missing; an axis needs a list of values")
		}
		if a.Paths, err = t.paths(pathNode, path+".path", set, name); err != nil {
			return err
		}
		if valuesNode.Kind != yaml.SequenceNode || len(valuesNode.Content) == 0 {
			return t.errf(valuesNode, path+".values", "must be a list of at least one value, not %s", kind(valuesNode))
		}
		for i, v := range valuesNode.Content {
			vp := fmt.Sprintf("%s.values[%d]", path, i)
			if v.Kind != yaml.ScalarNode || v.ShortTag() == "!!null" {
				return t.errf(v, vp, "must be a single value, not %s", kind(v))
			}
			if slices.Contains(a.Values, v.Value) {
				return t.errf(v, vp, "%q is listed twice", v.Value)
			}
			a.Values = append(a.Values, v.Value)
			a.nodes = append(a.nodes, v)
		}
		t.Axes = append(t.Axes, a)
	}
	return nil
}

// paths reads an axis's path: one path or a list of paths set together.
func (t *Template) paths(n *yaml.Node, path string, set map[string]string, axis string) ([]Path, error) {
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
		if len(items) == 0 {
			return nil, t.errf(n, path, "empty; name at least one scenario field")
		}
	}
	var out []Path
	for i, it := range items {
		ip := path
		if n.Kind == yaml.SequenceNode {
			ip = fmt.Sprintf("%s[%d]", path, i)
		}
		if it.Kind != yaml.ScalarNode || it.ShortTag() == "!!null" {
			return nil, t.errf(it, ip, "must be a field path such as hosts.proxy-b.nat-handling, not %s", kind(it))
		}
		p, err := ParsePath(it.Value)
		if err != nil {
			return nil, t.errf(it, ip, "%v", err)
		}
		if p[0].Key == "name" || p[0].Key == "matrix" {
			return nil, t.errf(it, ip, "%q cannot be swept: cells are named after the template and its axis values", it.Value)
		}
		if other, dup := set[p.String()]; dup {
			return nil, t.errf(it, ip, "%q is already set by axis %s; an axis sets each field alone", it.Value, other)
		}
		if _, err := p.find(t.root, false); err != nil {
			return nil, t.errf(it, ip, "%v", err)
		}
		set[p.String()] = axis
		out = append(out, p)
	}
	return out, nil
}

// axis returns the index of the axis called name.
func (t *Template) axis(name string) int {
	return slices.IndexFunc(t.Axes, func(a Axis) bool { return a.Name == name })
}

func (t *Template) axisNames() string {
	var names []string
	for _, a := range t.Axes {
		names = append(names, a.Name)
	}
	return strings.Join(names, ", ")
}

func (t *Template) columns(n *yaml.Node) error {
	if n == nil {
		if len(t.Axes) > 1 {
			t.Columns = []int{len(t.Axes) - 1}
		}
		return nil
	}
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	for _, it := range items {
		i := t.axis(it.Value)
		if it.Kind != yaml.ScalarNode || i < 0 {
			return t.errf(it, "matrix.columns", "%s is not an axis; axes: %s", kind(it), t.axisNames())
		}
		if slices.Contains(t.Columns, i) {
			return t.errf(it, "matrix.columns", "%q is listed twice", it.Value)
		}
		t.Columns = append(t.Columns, i)
	}
	if len(t.Columns) == len(t.Axes) {
		return t.errf(n, "matrix.columns", "leave at least one axis for the rows")
	}
	return nil
}

func (t *Template) rules(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return t.errf(n, "matrix.expect", "must be a list of {when, expect} rules, not %s", kind(n))
	}
	for i, it := range n.Content {
		path := fmt.Sprintf("matrix.expect[%d]", i)
		fields, err := t.pairs(it, path, ruleKeys)
		if err != nil {
			return err
		}
		r := Rule{When: map[int][]string{}, Line: it.Line}
		for _, f := range fields {
			switch f[0].Value {
			case "expect":
				if f[1].Kind != yaml.MappingNode {
					return t.errf(f[1], path+".expect", "must be a mapping of expect keys (ack-at-callee, callee-bye, blame, ack-within), not %s", kind(f[1]))
				}
				r.expect = f[1]
			case "when":
				conds, err := t.pairs(f[1], path+".when", nil)
				if err != nil {
					return err
				}
				for _, c := range conds {
					cp := path + ".when." + c[0].Value
					ai := t.axis(c[0].Value)
					if ai < 0 {
						return t.errf(c[0], cp, "not an axis; axes: %s", t.axisNames())
					}
					vals := []*yaml.Node{c[1]}
					if c[1].Kind == yaml.SequenceNode {
						vals = c[1].Content
					}
					for _, v := range vals {
						if !slices.Contains(t.Axes[ai].Values, v.Value) || v.Kind != yaml.ScalarNode {
							return t.errf(v, cp, "%s is not a value of axis %s (%s)", kind(v), c[0].Value, strings.Join(t.Axes[ai].Values, ", "))
						}
						r.When[ai] = append(r.When[ai], v.Value)
					}
				}
			}
		}
		if r.expect == nil {
			return t.errf(it, path+".expect", "missing; a rule adds expect keys to the cells it matches")
		}
		t.Rules = append(t.Rules, r)
	}
	return nil
}
