package matrix

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Path is a field of a scenario file, written as the loader's errors write it:
// keys joined by dots, list items by [index]: nats.home-nat.filtering,
// hosts.proxy-b.record-route, steps[1].call.talk.
type Path []Segment

// Segment is one step of a Path: a mapping key, or a list index when Key is "".
type Segment struct {
	Key   string
	Index int
}

var (
	pathPart  = regexp.MustCompile(`^([^.\[\]]*)((?:\[(?:0|[1-9][0-9]{0,8})\])*)$`)
	pathIndex = regexp.MustCompile(`[0-9]+`)
)

// ParsePath parses a dotted field path.
func ParsePath(s string) (Path, error) {
	var p Path
	for _, part := range strings.Split(s, ".") {
		m := pathPart.FindStringSubmatch(part)
		// Every part has its key: "a.[0]" is not a second way to write "a[0]".
		if m == nil || m[1] == "" {
			return nil, fmt.Errorf("%q is not a field path: write keys joined by dots and list items as [N] counted from 0, such as hosts.proxy-b.nat-handling or steps[1].call.talk", s)
		}
		p = append(p, Segment{Key: m[1]})
		for _, n := range pathIndex.FindAllString(m[2], -1) {
			idx, _ := strconv.Atoi(n)
			p = append(p, Segment{Index: idx})
		}
	}
	return p, nil
}

// String writes p back in its dotted form.
func (p Path) String() string {
	var b strings.Builder
	for i, s := range p {
		switch {
		case s.Key == "":
			fmt.Fprintf(&b, "[%d]", s.Index)
		case i > 0:
			b.WriteString("." + s.Key)
		default:
			b.WriteString(s.Key)
		}
	}
	return b.String()
}

func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// find walks p from root and returns the mapping that holds its last key, or the list
// that holds its last item. A missing mapping on the way is added when create is set
// (find on the template checks with create false that it could be), except a NAT or host:
// those the template must name, since everything else refers to them.
func (p Path) find(root *yaml.Node, create bool) (parent *yaml.Node, err error) {
	n := root
	for i, s := range p {
		n = deref(n)
		last := i == len(p)-1
		where := Path(p[:i]).String()
		if where == "" {
			where = "the top level"
		}
		switch {
		case s.Key == "" && n.Kind != yaml.SequenceNode:
			return nil, fmt.Errorf("%q: %s is not a list in the template", p, where)
		case s.Key == "" && s.Index >= len(n.Content):
			return nil, fmt.Errorf("%q: %s has %d items in the template", p, where, len(n.Content))
		case s.Key == "":
			if last {
				return n, nil
			}
			n = n.Content[s.Index]
			continue
		case n.Kind != yaml.MappingNode:
			return nil, fmt.Errorf("%q: %s is not a mapping in the template", p, where)
		}
		if last {
			return n, nil
		}
		v := lookup(n, s.Key)
		if v == nil && (i == 1 && (p[0].Key == "nats" || p[0].Key == "hosts") || p[i+1].Key == "") {
			return nil, fmt.Errorf("%q: the template has no %s", p, Path(p[:i+1]))
		}
		if v == nil {
			v = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			if create {
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s.Key}, v)
			}
		}
		n = v
	}
	return n, nil
}

func lookup(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// set puts value at p in the tree under root, a cell's own copy of the template's.
func (p Path) set(root *yaml.Node, value *yaml.Node) error {
	parent, err := p.find(root, true)
	if err != nil {
		return err
	}
	s := p[len(p)-1]
	if s.Key == "" {
		parent.Content[s.Index] = value
		return nil
	}
	for i := 0; i+1 < len(parent.Content); i += 2 {
		if parent.Content[i].Value == s.Key {
			parent.Content[i+1] = value
			return nil
		}
	}
	key := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s.Key, Line: value.Line, Column: value.Column}
	parent.Content = append(parent.Content, key, value)
	return nil
}

// clone copies the tree under n, aliases expanded into copies of their anchors, so that a
// cell's edits never reach the template's tree. Parse bounds the expanded size (size).
func clone(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		c := clone(n.Alias)
		c.Anchor = ""
		return c
	}
	c := *n
	if len(n.Content) > 0 {
		c.Content = make([]*yaml.Node, len(n.Content))
		for i, k := range n.Content {
			c.Content[i] = clone(k)
		}
	}
	return &c
}

// maxNodes bounds a template's tree with its aliases expanded: a scenario is a few hundred
// nodes, and aliases of aliases could otherwise expand a small file beyond memory.
const maxNodes = 100000

// size counts the nodes under n with aliases expanded, stopping past maxNodes.
func size(n *yaml.Node, depth int) int {
	if depth > 100 {
		return maxNodes + 1
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return size(n.Alias, depth+1)
	}
	total := 1
	for _, k := range n.Content {
		total += size(k, depth+1)
		if total > maxNodes {
			break
		}
	}
	return total
}
