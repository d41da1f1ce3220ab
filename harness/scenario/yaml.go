package scenario

// This file is the YAML-node toolkit of the loader: decoding one document, positions,
// mappings with checked keys, and did-you-mean hints.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// decode parses data as exactly one YAML document and returns its root node.
func (p *parser) decode(data []byte) (root *yaml.Node, err error) {
	if err := p.checkText(data); err != nil {
		return nil, err
	}
	defer func() { // the YAML library is not written against hostile input
		if r := recover(); r != nil {
			root, err = nil, p.errAt(0, "", "invalid YAML: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, p.errAt(1, "", "the file is empty; a scenario needs at least name, hosts and steps")
		}
		return nil, p.yamlErr(err, data)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, p.yamlErr(err, data)
	default:
		return nil, p.errf(&next, "", "a second YAML document; a file holds exactly one scenario")
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, p.errAt(1, "", "the file is empty; a scenario needs at least name, hosts and steps")
	}
	return doc.Content[0], nil
}

// maxKey is the longest plain key the YAML parser reads (its simple-key limit); a longer
// one makes it report "mapping values are not allowed in this context".
const maxKey = 1024

func (p *parser) yamlErr(err error, data []byte) error {
	msg := err.Error()
	line := 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	}
	if lines := strings.Split(string(data), "\n"); line > 0 && line <= len(lines) && strings.Contains(msg, "mapping values are not allowed") {
		key, _, _ := strings.Cut(strings.TrimLeft(lines[line-1], " -"), ":")
		if len(key) > maxKey {
			return p.errAt(line, "", "invalid YAML: a key of %d characters; YAML reads keys of at most %d, and names are short kebab-case words such as proxy-a", utf8.RuneCountInString(key), maxKey)
		}
	}
	return p.errAt(line, "", "invalid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}

// checkText rejects what the YAML parser would reject without naming a line.
func (p *parser) checkText(data []byte) error {
	line := 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			return p.errAt(line, "", "invalid YAML: the file is not UTF-8 text (byte 0x%02x)", data[i])
		case r == '\n':
			line++
		case r < 0x20 && r != '\t' && r != '\r', r == 0x7f, r >= 0x80 && r <= 0x9f, r == 0xfffe, r == 0xffff:
			return p.errAt(line, "", "invalid YAML: control character %U is not allowed", r)
		}
		i += size
	}
	return nil
}

// entry is one key and value of a mapping.
type entry struct{ key, val *yaml.Node }

// deref follows aliases to the anchored node.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Kind describes a YAML node in an error message as the loader does: "a mapping",
// "a list", "empty" or the quoted value. Package harness/matrix reads templates with it.
func Kind(n *yaml.Node) string { return kind(n) }

func kind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "empty"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// mapping checks that n is a mapping with unique plain keys and returns its entries in file
// order. A null node is an empty mapping.
func (p *parser) mapping(n *yaml.Node, path, want string) ([]entry, error) {
	n = deref(n)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, p.errf(n, path, "must be %s, not %s", want, kind(n))
	}
	var out []entry
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, p.errf(k, path, "keys must be plain names, not %s", kind(k))
		}
		if k.ShortTag() == "!!merge" {
			return nil, p.errf(k, join(path, k.Value), "merge keys are not supported; write the keys out")
		}
		if line, dup := first[k.Value]; dup {
			return nil, p.errf(k, join(path, k.Value), "duplicate key (first at line %d)", line)
		}
		first[k.Value] = k.Line
		out = append(out, entry{k, v})
	}
	return out, nil
}

// unknownKey reports a key that is not in allowed, suggesting the closest allowed one.
func (p *parser) unknownKey(k *yaml.Node, path string, allowed []string) error {
	msg := "unknown key"
	if s := closest(k.Value, allowed); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", s)
	}
	return p.errf(k, join(path, k.Value), "%s; allowed keys: %s", msg, strings.Join(allowed, ", "))
}

// closest returns the word of words within edit distance 2 of s, if any.
func closest(s string, words []string) string {
	best, bestD := "", 3
	for _, w := range words {
		if d := editDistance(s, w); d < bestD {
			best, bestD = w, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// scalar returns the text of a single value; null is an error.
func (p *parser) scalar(n *yaml.Node, path string) (string, *yaml.Node, error) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode {
		return "", n, p.errf(n, path, "must be a single value, not %s", kind(n))
	}
	if n.ShortTag() == "!!null" {
		return "", n, p.errf(n, path, "has no value")
	}
	return n.Value, n, nil
}
