package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

func validateCommand() *command {
	return &command{
		name:    "validate",
		args:    "(--config FILE --as HOST | --proxy HOST=ENGINE:CONFIG...) FILE|DIR...",
		summary: "run scenarios with real Kamailio or OpenSIPS in containers as some proxies",
		help: `Runs the scenarios with real proxies in containers (built locally) in place
of in-process proxy hosts, in real time, and prints the same report and
verdict as run: --config/--as for one, --proxy HOST=ENGINE:CONFIG
(repeatable, engines mixed) for a chain. Each real proxy has its host's
scenario address and reaches every other host at its scenario address, in a
container with no network but what sipnatlab relays. --define NAME[=VALUE]
(repeatable; HOST: first for one proxy only) is kamailio -A, or an
environment variable for OpenSIPS ($env(NAME)); a host with a next-hop also
gets NEXT_HOP="sip:ADDR:PORT". Each proxy's log is written beside --pcap
(else --html) as FILE-HOST.log; its warnings and errors are in the report.
The images: sipnatlab/kamailio:5.6 and sipnatlab/opensips:3.6, built locally
(make image); --image, or SIPNATLAB_OPENSIPS_IMAGE for opensips, names
another (e.g. the official opensips/opensips:3.6 where a registry answers).

Exit codes: 0 every expectation held, 1 an expectation failed, 2 bad input.`,
		flags: func(fs *pflag.FlagSet) func(context.Context, *env, []string) int {
			vf := addValidateFlags(fs)
			rf := addRunFlags(fs)
			return func(ctx context.Context, e *env, args []string) int {
				containers, err := vf.specs()
				if err != nil {
					return e.usageError("%v", err)
				}
				return runScenarios(ctx, e, rf, containers, args)
			}
		},
	}
}

// validateFlags are validate's own flags: which proxy hosts become real proxies, with
// which engine, config, image and defines.
type validateFlags struct {
	engine, config, as, image *string
	proxies, defines          *[]string
}

func addValidateFlags(fs *pflag.FlagSet) *validateFlags {
	return &validateFlags{
		engine:  fs.String("engine", string(scenario.EngineKamailio), "kamailio or opensips (with --config/--as)"),
		config:  fs.String("config", "", "the proxy's config `FILE` (with --as)"),
		as:      fs.String("as", "", "the proxy `HOST` of the scenario the container replaces (with --config)"),
		image:   fs.String("image", "", "the container `IMAGE` of --config/--as (default sipnatlab/kamailio:5.6, or for opensips $SIPNATLAB_OPENSIPS_IMAGE else sipnatlab/opensips:3.6)"),
		proxies: fs.StringArray("proxy", nil, "a real proxy in a host's place, `HOST=ENGINE:CONFIG` (repeatable, engines mixed)"),
		defines: fs.StringArray("define", nil, "a define, `[HOST:]NAME[=VALUE]`, for every real proxy or for HOST's (repeatable): kamailio -A, an environment variable for OpenSIPS"),
	}
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
	for _, p := range *v.proxies {
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
		st, err := os.Stat(c.Config)
		if err != nil {
			return nil, fmt.Errorf("%s's config: %w", host, err)
		}
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("%s's config %q: not a regular file", host, c.Config)
		}
	}
	for _, d := range *v.defines {
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
// host of s and sit behind no NAT unless that NAT forwards a port to it.
func checkHosts(s *scenario.Scenario, specs map[string]harness.Container) error {
	for _, name := range slices.Sorted(maps.Keys(specs)) {
		h, ok := s.Host(name)
		if !ok || h.Role != scenario.RoleProxy {
			return fmt.Errorf("%s: scenario %q (%s) has no proxy host of that name", name, s.Name, s.File)
		}
		if why := s.RealProxyBehindNAT(h, engineName(specs[name])); why != "" {
			return &scenario.LoadError{File: s.File, Line: addressLine(s.File, h.Line), Path: "hosts." + name + ".address", Msg: why}
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

// proxyLogFiles names the files the real proxies' logs go to, by scenario name and
// host: beside the run's --pcap file (else its --html file), "-HOST.log" in place of
// the extension; nil when neither is given.
func proxyLogFiles(scenarios []*scenario.Scenario, specs map[string]harness.Container, rf *runFlags, mode harness.ClockMode) map[string]map[string]string {
	base := cmp.Or(rf.pcap, rf.html)
	if base == "" {
		return nil
	}
	out := map[string]map[string]string{}
	for _, s := range scenarios {
		file := outputName(base, s.Name, len(scenarios))
		stem := strings.TrimSuffix(file, filepath.Ext(file))
		out[s.Name] = map[string]string{}
		for _, h := range realHosts(s, specs, rf.inProcess || mode == harness.Simulated) {
			out[s.Name][h] = stem + "-" + h + ".log"
		}
	}
	return out
}

// logOutputs lists the files of proxyLogFiles for checkOutputs.
func logOutputs(files map[string]map[string]string) []output {
	var out []output
	for _, n := range slices.Sorted(maps.Keys(files)) {
		for _, h := range slices.Sorted(maps.Keys(files[n])) {
			out = append(out, output{"--pcap/--html", files[n][h], files[n][h]})
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
func writeProxyLogs(irq *interrupts, files map[string]string, res *harness.Result) error {
	if res == nil {
		return nil
	}
	for host, log := range res.ProxyLogs {
		if f, ok := files[host]; ok {
			write := func(w io.Writer) error { _, err := io.WriteString(w, log); return err }
			if err := irq.writeFile("log of the real proxy "+host, f, write); err != nil {
				return err
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
