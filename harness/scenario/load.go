package scenario

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ErrInvalid is wrapped by every error that Load, Parse and LoadDir return for a file that is
// not a valid scenario: YAML syntax, unknown or missing keys, wrong types, bad values, names of
// hosts that do not exist, impossible topologies. Errors reading a file do not wrap it.
var ErrInvalid = errors.New("invalid scenario")

// LoadError is the error for an invalid scenario file. It unwraps to ErrInvalid, and reads
//
//	load scenario "scenarios/x.yaml": line 12: hosts.bob.address: "192.168.300.1" is not an IP address
type LoadError struct {
	File string // as given to Load or Parse
	Line int    // 1-based; 0 when the YAML parser did not say
	Path string // dotted field path such as "hosts.bob.address" or "steps[1].call.via"; "" for the whole file
	Msg  string
}

// Error formats the error as load scenario "FILE": line N: PATH: MSG.
func (e *LoadError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "load scenario %q: ", e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns ErrInvalid.
func (e *LoadError) Unwrap() error { return ErrInvalid }

// Load reads the scenario file at path and returns it parsed and validated, with every
// default filled in. Errors name the file, line and field path. Only a regular file is
// read (a device, a FIFO or a directory is refused before any byte is read), and at most
// MaxFileSize bytes of it.
func Load(path string) (*Scenario, error) {
	data, err := readScenario(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// MaxFileSize is the largest scenario file Load and Parse accept: 1 MiB, hundreds of
// times the size of a real scenario.
const MaxFileSize = 1 << 20

// readScenario reads the regular file at path, refusing anything else and anything
// larger than MaxFileSize.
func readScenario(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load scenario %q: %w", path, err)
	}
	if err := regular(path, st); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load scenario %q: %w", path, err)
	}
	defer f.Close()
	if st, err = f.Stat(); err != nil { // the file opened may not be the file checked
		return nil, fmt.Errorf("load scenario %q: %w", path, err)
	}
	if err := regular(path, st); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("load scenario %q: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, tooLarge(path)
	}
	return data, nil
}

// ErrNotRegular is wrapped by the error of Load and LoadDir for a path that is not a
// regular file: a device, a FIFO, a socket, a directory given to Load.
var ErrNotRegular = errors.New("not a regular file")

func regular(path string, st os.FileInfo) error {
	m := st.Mode()
	if m.IsRegular() {
		return nil
	}
	what := "an irregular file"
	switch {
	case m.IsDir():
		what = "a directory"
	case m&os.ModeNamedPipe != 0:
		what = "a named pipe"
	case m&os.ModeSocket != 0:
		what = "a socket"
	case m&os.ModeCharDevice != 0:
		what = "a character device"
	case m&os.ModeDevice != 0:
		what = "a device"
	}
	return fmt.Errorf("load scenario %q: %w (%s); a scenario is a YAML file", path, ErrNotRegular, what)
}

func tooLarge(file string) error {
	return &LoadError{File: file, Msg: fmt.Sprintf("the file is larger than %d MiB; a scenario is a few kilobytes of YAML", MaxFileSize>>20)}
}

// LoadDir loads every *.yaml and *.yml file directly in dir (not in sub-directories, not
// names starting with a dot), sorted by file name; an entry so named that is not a
// regular file (a FIFO, a device) is an error, as for Load. Scenario names must be unique across the
// directory. When any file is invalid it returns nil and the errors of all invalid files,
// joined; a directory without scenario files is an error too.
func LoadDir(dir string) ([]*Scenario, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load scenarios %q: %w", dir, err)
	}
	var (
		out  []*Scenario
		errs []error
		seen = map[string]*Scenario{}
	)
	for _, e := range entries { // os.ReadDir sorts by file name
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") ||
			(filepath.Ext(name) != ".yaml" && filepath.Ext(name) != ".yml") {
			continue
		}
		s, err := Load(filepath.Join(dir, name))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if first, ok := seen[s.Name]; ok {
			errs = append(errs, &LoadError{File: s.File, Line: s.Line, Path: "name",
				Msg: fmt.Sprintf("%q is already the name of %q (line %d); scenario names must be unique", s.Name, first.File, first.Line)})
			continue
		}
		seen[s.Name] = s
		out = append(out, s)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("load scenarios %q: no *.yaml or *.yml files", dir)
	}
	return out, nil
}

// Parse parses and validates one scenario of at most MaxFileSize bytes; file is used in
// errors and Scenario.File only. It has no side effects and never panics.
func Parse(file string, data []byte) (*Scenario, error) {
	if len(data) > MaxFileSize {
		return nil, tooLarge(file)
	}
	p := newParser(file)
	root, err := p.decode(data)
	if err != nil {
		return nil, err
	}
	return p.parse(root)
}

// ParseNode validates a scenario already decoded into YAML nodes: root is the
// top-level mapping (or its document). Errors carry the nodes' own lines, so a
// generator that edits a decoded file (package harness/matrix) keeps the
// file's lines in them. It does not modify root.
func ParseNode(file string, root *yaml.Node) (*Scenario, error) {
	p := newParser(file)
	if root == nil {
		return nil, p.errAt(0, "", "the file is empty; a scenario needs at least name, hosts and steps")
	}
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	return p.parse(root)
}

func newParser(file string) *parser {
	return &parser{file: file, s: &Scenario{File: file}, natAt: map[string]int{}, hostAt: map[string]int{},
		natOfPublic: map[netip.Addr]int{}, natOfLAN: map[netip.Prefix]int{}, lanWithin: map[netip.Prefix]int{}, hostOfIP: map[netip.Addr]int{}}
}

func (p *parser) parse(root *yaml.Node) (*Scenario, error) {
	if err := p.scenario(root); err != nil {
		return nil, err
	}
	return p.s, nil
}

type parser struct {
	file string
	s    *Scenario
	t1   time.Duration // resolves "N*T1" durations; set before any such duration is read

	// Indexes of s.NATs and s.Hosts, so that no check is quadratic in them: by name, by
	// public address, by lan, by every network holding a lan (addNAT), by IP address.
	natAt, hostAt map[string]int
	natOfPublic   map[netip.Addr]int
	natOfLAN      map[netip.Prefix]int
	lanWithin     map[netip.Prefix]int
	hostOfIP      map[netip.Addr]int
	// in and out are each NAT's interval in a depth-first walk of the NATs behind each
	// other: a NAT sits behind another when its interval lies in the other's (natLoops).
	in, out []int
	// forwardRefs are the forwards of the NATs, read with the NATs and checked once the
	// hosts they name are known (placeForwards).
	forwardRefs []forwardRef
}

// nat returns the NAT called name.
func (p *parser) nat(name string) (NAT, bool) {
	i, ok := p.natAt[name]
	if !ok {
		return NAT{}, false
	}
	return p.s.NATs[i], true
}

// hostNamed returns the host called name.
func (p *parser) hostNamed(name string) (Host, bool) {
	i, ok := p.hostAt[name]
	if !ok {
		return Host{}, false
	}
	return p.s.Hosts[i], true
}

func (p *parser) errAt(line int, path, format string, args ...any) error {
	return &LoadError{File: p.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) errf(n *yaml.Node, path, format string, args ...any) error {
	return p.errAt(n.Line, path, format, args...)
}

// scenario validates the top-level mapping. Blocks are read in dependency order (timers
// before durations that may use T1, NATs before host addresses, hosts before steps and
// expectations), so the first error reported is not always the first in the file.
func (p *parser) scenario(root *yaml.Node) error {
	root = deref(root)
	if root.Kind != yaml.MappingNode {
		return p.errf(root, "", "a scenario must be a mapping with the keys %s, not %s", strings.Join(topKeys, ", "), kind(root))
	}
	entries, err := p.mapping(root, "", "a mapping")
	if err != nil {
		return err
	}
	top := map[string]entry{}
	for _, e := range entries {
		if e.key.Value == "matrix" {
			return p.errf(e.key, "matrix", "a matrix block makes this file a template: run its cells with sipnatlab matrix (docs/scenario-format.md, matrix)")
		}
		if !slices.Contains(topKeys, e.key.Value) {
			return p.unknownKey(e.key, "", topKeys)
		}
		top[e.key.Value] = e
	}
	for _, req := range []struct{ key, hint string }{
		{"name", "a kebab-case name such as no-nat-handling"},
		{"hosts", "at least one host"},
		{"steps", "at least one step"},
	} {
		if _, ok := top[req.key]; !ok {
			return p.errf(root, req.key, "missing; a scenario needs %s", req.hint)
		}
	}

	e := top["name"]
	if p.s.Name, _, err = p.scalar(e.val, "name"); err != nil {
		return err
	}
	if err := p.name(deref(e.val), "name", "scenario name"); err != nil {
		return err
	}
	p.s.Line = e.key.Line
	for _, t := range []struct {
		key string
		dst *string
	}{{"summary", &p.s.Summary}, {"lesson", &p.s.Lesson}} {
		if e, ok := top[t.key]; ok {
			if *t.dst, _, err = p.scalar(e.val, t.key); err != nil {
				return err
			}
		}
	}
	if err := p.timers(top["timers"]); err != nil {
		return err
	}
	if err := p.nats(top["nats"]); err != nil {
		return err
	}
	if err := p.hosts(top["hosts"]); err != nil {
		return err
	}
	if err := p.steps(top["steps"]); err != nil {
		return err
	}
	return p.expect(top["expect"])
}
