package matrix

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

// Cell is one combination of axis values: an ordinary scenario named after the template
// and its values, with the expect keys of the rules that match it.
type Cell struct {
	Index    int      // position in the template's order: the first axis varies slowest
	Name     string   // the scenario's name: TEMPLATE-LABEL-LABEL..., kebab-case
	Values   []string // one per axis, in axis order
	Scenario *scenario.Scenario
	root     *yaml.Node // while it is built, and for YAML
}

// Len returns the number of cells: the product of the axes' value counts.
func (t *Template) Len() int {
	n := 1
	for _, a := range t.Axes {
		n *= len(a.Values)
	}
	return n
}

// Values returns the axis values of cell i.
func (t *Template) Values(i int) []string {
	vals := make([]string, len(t.Axes))
	for j := len(t.Axes) - 1; j >= 0; j-- {
		n := len(t.Axes[j].Values)
		vals[j] = t.Axes[j].Values[i%n]
		i /= n
	}
	return vals
}

var unsafe = regexp.MustCompile(`[^a-z0-9]+`)

// label is how value of axis a shows in a cell name: true and false become the axis name
// and no-AXIS, anything else its lower-cased letters and digits.
func label(a Axis, value string) string {
	switch value {
	case "true":
		return a.Name
	case "false":
		return "no-" + a.Name
	}
	return strings.Trim(unsafe.ReplaceAllString(strings.ToLower(value), "-"), "-")
}

// Cell returns cell i (0 <= i < Len), built and validated when the template was parsed.
func (t *Template) Cell(i int) (*Cell, error) {
	if i < 0 || i >= len(t.cells) {
		return nil, fmt.Errorf("matrix %q: no cell %d (%d cells)", t.File, i, t.Len())
	}
	return t.cells[i], nil
}

// build builds cell i and validates it with the scenario loader; with keep it keeps the
// cell's YAML tree (for YAML). Errors name the template's file and the line of the value
// that made the cell invalid.
func (t *Template) build(i int, keep bool) (*Cell, error) {
	c := &Cell{Index: i, Values: t.Values(i), root: clone(t.root)}
	parts := []string{t.Name}
	for j, a := range t.Axes {
		vi := indexOf(a.Values, c.Values[j])
		for _, p := range a.Paths {
			if err := p.set(c.root, clone(a.nodes[vi])); err != nil {
				return nil, errAt(t.File, a.nodes[vi].Line, "matrix.axes."+a.Name, "%v", err)
			}
		}
		if l := label(a, c.Values[j]); l != "" {
			parts = append(parts, l)
		}
	}
	c.Name = strings.Join(parts, "-")
	setKey(c.root, "name", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: c.Name})
	if err := t.expect(c); err != nil {
		return nil, err
	}
	s, err := scenario.ParseNode(t.File, c.root)
	if err != nil {
		return nil, fmt.Errorf("matrix cell %s: %w", t.describe(c.Values), err)
	}
	c.Scenario = s
	if !keep {
		c.root = nil // thousands of cells keep only their scenarios
	}
	return c, nil
}

func indexOf(vals []string, v string) int {
	for i, x := range vals {
		if x == v {
			return i
		}
	}
	return -1
}

// describe writes a cell's values as axis=value pairs.
func (t *Template) describe(values []string) string {
	var b []string
	for j, a := range t.Axes {
		b = append(b, a.Name+"="+values[j])
	}
	return strings.Join(b, " ")
}

func keyNode(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i]
		}
	}
	return nil
}

func setKey(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			v.Line, v.Column = m.Content[i+1].Line, m.Content[i+1].Column
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
}

// expect merges the expect keys of the rules matching c over the template's expect block,
// later rules overriding earlier ones key by key.
func (t *Template) expect(c *Cell) error {
	var block *yaml.Node
	for _, r := range t.Rules {
		if !r.matches(c.Values) {
			continue
		}
		if block == nil {
			block = lookup(c.root, "expect")
			if block == nil {
				block = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: r.Line}
				c.root.Content = append(c.root.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "expect", Line: r.Line}, block)
			} else if block.Kind != yaml.MappingNode {
				return nil // the loader reports the template's bad expect block
			}
			// Say where the cell's expectations come from, in place of the template's comment.
			var lines []string
			for _, r := range t.Rules {
				if r.matches(c.Values) {
					lines = append(lines, fmt.Sprint(r.Line))
				}
			}
			if k := keyNode(c.root, "expect"); k != nil {
				k.LineComment = "the template's, with its matrix rules at line " + strings.Join(lines, ", ")
				block.LineComment = ""
			}
		}
		for i := 0; i+1 < len(r.expect.Content); i += 2 {
			k, v := r.expect.Content[i], clone(r.expect.Content[i+1])
			replaced := false
			for j := 0; j+1 < len(block.Content); j += 2 {
				if block.Content[j].Value == k.Value {
					block.Content[j+1], replaced = v, true
				}
			}
			if !replaced {
				block.Content = append(block.Content, clone(k), v)
			}
		}
	}
	return nil
}

// YAML renders the cell as a scenario file: the template without its matrix block, the
// axis values and the matched expectations in place, and a comment saying where it came
// from. A relative engine config is rewritten relative to dir, where the file will live.
func (t *Template) YAML(c *Cell, dir string) ([]byte, error) {
	full, err := t.build(c.Index, true)
	if err != nil {
		return nil, err
	}
	root := full.root
	if hosts := lookup(root, "hosts"); hosts != nil {
		for i := 1; i < len(hosts.Content); i += 2 {
			cfg := lookup(deref(hosts.Content[i]), "config")
			if cfg == nil || filepath.IsAbs(cfg.Value) {
				continue
			}
			abs, err := filepath.Abs(filepath.Join(filepath.Dir(t.File), cfg.Value))
			if err != nil {
				return nil, err
			}
			absDir, err := filepath.Abs(dir)
			if err != nil {
				return nil, err
			}
			if rel, err := filepath.Rel(absDir, abs); err == nil {
				cfg.Value = filepath.ToSlash(rel)
			}
		}
	}
	root.HeadComment = fmt.Sprintf("Cell %d of %d of the matrix %s:\n  %s\nRegenerate with: sipnatlab matrix --emit DIR %s",
		c.Index+1, t.Len(), filepath.ToSlash(t.File), t.describe(c.Values), filepath.ToSlash(t.File))
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("matrix cell %s: %w", c.Name, err)
	}
	return []byte(b.String()), nil
}

// Emit writes cells as DIR/NAME.yaml, creating dir, and returns the files written.
func (t *Template) Emit(dir string, cells []*Cell) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("emit matrix cells: %w", err)
	}
	var files []string
	for _, c := range cells {
		data, err := t.YAML(c, dir)
		if err != nil {
			return files, err
		}
		f := filepath.Join(dir, c.Name+".yaml")
		if err := os.WriteFile(f, data, 0o644); err != nil {
			return files, fmt.Errorf("emit matrix cells: %w", err)
		}
		files = append(files, f)
	}
	return files, nil
}
