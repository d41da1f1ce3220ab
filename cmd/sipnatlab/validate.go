package main

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

// validateFlags are validate's own flags: which proxy hosts become real proxies, with
// which engine, config, image and defines.
type validateFlags struct {
	engine, config, as, image *string
	proxies, defines          listFlag
}

// listFlag is a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func addValidateFlags(fs *flag.FlagSet) *validateFlags {
	v := &validateFlags{
		engine: fs.String("engine", string(scenario.EngineKamailio), "kamailio or opensips (with --config/--as)"),
		config: fs.String("config", "", "the proxy's config `FILE` (with --as)"),
		as:     fs.String("as", "", "the proxy `HOST` of the scenario the container replaces (with --config)"),
		image:  fs.String("image", "", "the container `IMAGE` of --config/--as (default sipnatlab/kamailio:5.6, or for opensips $SIPNATLAB_OPENSIPS_IMAGE else sipnatlab/opensips:3.6)"),
	}
	fs.Var(&v.proxies, "proxy", "`HOST=ENGINE:CONFIG`: a real proxy in HOST's place (repeatable, engines mixed)")
	fs.Var(&v.defines, "define", "`[HOST:]NAME[=VALUE]`: a define for every real proxy, or for HOST's (repeatable): kamailio -A, an environment variable for OpenSIPS")
	return v
}

// specs returns the real proxies the flags name, by host; the error is bad usage.
func (v *validateFlags) specs() (map[string]harness.Container, error) {
	out := map[string]harness.Container{}
	if *v.config != "" || *v.as != "" {
		if *v.config == "" || *v.as == "" {
			return nil, fmt.Errorf("--config and --as are required together")
		}
		eng, err := scenario.ParseEngine(*v.engine)
		if err != nil {
			return nil, fmt.Errorf("--engine %q: want kamailio or opensips", *v.engine)
		}
		out[*v.as] = harness.Container{Engine: eng, Config: *v.config, Image: imageFor(eng, *v.image)}
	}
	for _, p := range v.proxies {
		host, rest, ok := strings.Cut(p, "=")
		engine, config, ok2 := strings.Cut(rest, ":")
		if !ok || !ok2 || host == "" || config == "" {
			return nil, fmt.Errorf("--proxy %q: want HOST=ENGINE:CONFIG, e.g. proxy-b=kamailio:fixtures/kamailio/correct.cfg", p)
		}
		eng, err := scenario.ParseEngine(engine)
		if err != nil {
			return nil, fmt.Errorf("--proxy %q: engine %q: want kamailio or opensips", p, engine)
		}
		if _, dup := out[host]; dup {
			return nil, fmt.Errorf("--proxy %q: %s is named twice", p, host)
		}
		out[host] = harness.Container{Engine: eng, Config: config, Image: imageFor(eng, "")}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--config and --as, or --proxy, are required")
	}
	for host, c := range out {
		if st, err := os.Stat(c.Config); err != nil || !st.Mode().IsRegular() {
			return nil, fmt.Errorf("%s's config %q: not a readable file", host, c.Config)
		}
	}
	for _, d := range v.defines {
		host, define := "", d
		if name, _, _ := strings.Cut(d, "="); strings.Contains(name, ":") {
			host, define, _ = strings.Cut(d, ":")
		}
		if name, _, _ := strings.Cut(define, "="); name == "" || strings.ContainsAny(name, " \t\"") {
			return nil, fmt.Errorf("--define %q: want [HOST:]NAME[=VALUE]", d)
		}
		if host != "" {
			if _, ok := out[host]; !ok {
				return nil, fmt.Errorf("--define %q: %s is not a real proxy of this run (%s)", d, host, strings.Join(slices.Sorted(maps.Keys(out)), ", "))
			}
		}
		for h, c := range out {
			if host == "" || host == h {
				c.Defines = append(c.Defines, define)
				out[h] = c
			}
		}
	}
	return out, nil
}

// imageFor is the image of engine: image when named, else for OpenSIPS
// $SIPNATLAB_OPENSIPS_IMAGE, else "" (the engine's local image).
func imageFor(eng scenario.Engine, image string) string {
	if image == "" && eng == scenario.EngineOpenSIPS {
		return os.Getenv("SIPNATLAB_OPENSIPS_IMAGE")
	}
	return image
}

// checkHosts applies to the hosts validate makes real the topology rules the loader
// applies to engine keys in a file, with the loader's error: each must be a proxy
// host of s and sit behind no NAT.
func checkHosts(s *scenario.Scenario, specs map[string]harness.Container) error {
	for _, name := range slices.Sorted(maps.Keys(specs)) {
		h, ok := s.Host(name)
		if !ok || h.Role != scenario.RoleProxy {
			return fmt.Errorf("%s: scenario %q (%s) has no proxy host of that name", name, s.Name, s.File)
		}
		if h.NAT != "" {
			return &scenario.LoadError{File: s.File, Line: addressLine(s.File, h.Line), Path: "hosts." + name + ".address",
				Msg: fmt.Sprintf("a real proxy (engine %s) cannot sit behind NAT %s", engineName(specs[name]), h.NAT)}
		}
	}
	return nil
}

func engineName(c harness.Container) scenario.Engine {
	if c.Engine == "" {
		return scenario.EngineKamailio
	}
	return c.Engine
}

// addressLine is the line of the first "address:" at or after a host's line in file,
// where the loader reports a host's placement; line itself when there is none.
func addressLine(file string, line int) int {
	src, err := os.ReadFile(file)
	if err != nil {
		return line
	}
	lines := strings.Split(string(src), "\n")
	for i := max(line-1, 0); i < len(lines); i++ {
		if strings.Contains(lines[i], "address:") {
			return i + 1
		}
	}
	return line
}

// logFiles names the files the real proxies' logs go to, by scenario name and host:
// beside the run's --pcap file (else its --html file), "-HOST.log" in place of the
// extension; nil when neither is given.
func logFiles(base string, names []string, hosts map[string][]string) map[string]map[string]string {
	if base == "" {
		return nil
	}
	out := map[string]map[string]string{}
	for _, n := range names {
		file := outputName(base, n, len(names))
		stem := strings.TrimSuffix(file, filepath.Ext(file))
		out[n] = map[string]string{}
		for _, h := range hosts[n] {
			out[n][h] = stem + "-" + h + ".log"
		}
	}
	return out
}

// logOutputs lists the files of logFiles for checkOutputs.
func logOutputs(base string, files map[string]map[string]string) []output {
	var out []output
	for _, n := range slices.Sorted(maps.Keys(files)) {
		for _, h := range slices.Sorted(maps.Keys(files[n])) {
			out = append(out, output{"--pcap/--html", base, files[n][h]})
		}
	}
	return out
}

// realHosts are the hosts of s that run as real proxies: those specs names, else those
// whose engine key names one (none with --in-process).
func realHosts(s *scenario.Scenario, specs map[string]harness.Container, inProcess bool) []string {
	if specs != nil {
		return slices.Sorted(maps.Keys(specs))
	}
	var out []string
	for _, h := range s.Hosts {
		if h.Engine != "" && !inProcess {
			out = append(out, h.Name)
		}
	}
	return out
}

// writeProxyLogs writes each real proxy's log in res to its file of files (by host).
func writeProxyLogs(files map[string]string, res *harness.Result) error {
	if res == nil {
		return nil
	}
	for host, log := range res.ProxyLogs {
		if f, ok := files[host]; ok {
			if err := os.WriteFile(f, []byte(log), 0o644); err != nil {
				return fmt.Errorf("log of the real proxy %s: %w", host, err)
			}
		}
	}
	return nil
}

// describe names the real proxies for the start-of-run line: "kamailio (x.cfg) as
// proxy-b, opensips (y.cfg) as proxy-a".
func describe(specs map[string]harness.Container) string {
	var parts []string
	for _, h := range slices.Sorted(maps.Keys(specs)) {
		c := specs[h]
		d := fmt.Sprintf("%s (%s) as %s", engineName(c), c.Config, h)
		if len(c.Defines) > 0 {
			d += " with " + strings.Join(c.Defines, " ")
		}
		parts = append(parts, d)
	}
	return strings.Join(parts, ", ")
}
