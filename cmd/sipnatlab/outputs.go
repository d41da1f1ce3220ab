package main

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"github.com/sipnatlab/sipnatlab/harness/report"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

// maxFileName is the longest file name (one path element) the file systems we run on
// take, in bytes (NAME_MAX on Linux, macOS and Windows).
const maxFileName = 255

// output is one file a command will write: the flag that asked for it, the flag's value,
// and the file (the value itself, or with a scenario's name inserted).
type output struct {
	flag, value, file string
}

// outputsOf lists the files flag (value file) makes for scenarios of these names: the
// file itself for one scenario, one file per scenario otherwise (outputName).
func outputsOf(flag, file string, names []string) []output {
	if file == "" {
		return nil
	}
	var out []output
	for _, n := range names {
		out = append(out, output{flag, file, outputName(file, n, len(names))})
	}
	return out
}

// outputName is file for a single scenario, else file with "-" and the scenario's name
// inserted before its extension: out.pcap, out-no-nat-handling.pcap. A name that would
// make the file name longer than maxFileName is cut and ends in 8 hex digits of its
// SHA-256, so every scenario still gets a file of its own. Scenario names are kebab-case;
// one read from a capture is not checked, so any other character becomes "_" and the
// name can never leave the directory.
func outputName(file, scenario string, scenarios int) string {
	if scenarios == 1 {
		return file
	}
	scenario = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, scenario)
	ext := filepath.Ext(file)
	stem := strings.TrimSuffix(file, ext)
	if base := filepath.Base(stem) + "-" + scenario + ext; len(base) > maxFileName {
		keep := maxFileName - (len(base) - len(scenario)) - 9 // "-" and 8 hex digits
		if keep > 0 {
			sum := sha256.Sum256([]byte(scenario))
			scenario = fmt.Sprintf("%s-%x", strings.TrimRight(scenario[:keep], "-"), sum[:4])
		}
	}
	return stem + "-" + scenario + ext
}

// checkOutputs refuses, before anything runs, outputs that could not be written or would
// destroy something: a missing directory, a directory in a file's place, a file name too
// long, two outputs on one file, an output on one of the inputs (what they are: "scenario
// file", "capture"). It probes that each directory takes a new file and each existing
// file can be written, and changes nothing.
func checkOutputs(outs []output, inputs []string, what string) error {
	seen := map[string]output{}
	probed := map[string]bool{}
	for _, o := range outs {
		abs, err := filepath.Abs(o.file)
		if err != nil {
			return fmt.Errorf("%s %q: %w", o.flag, o.file, err)
		}
		if prev, ok := seen[abs]; ok {
			return fmt.Errorf("%s %q and %s %q would write the same file %q", o.flag, o.value, prev.flag, prev.value, o.file)
		}
		seen[abs] = o
		if len(filepath.Base(o.file)) > maxFileName {
			return fmt.Errorf("%s %q: the file name is longer than %d bytes", o.flag, o.file, maxFileName)
		}
		dir := filepath.Dir(o.file)
		st, err := os.Stat(dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("%s %q: no such directory %q", o.flag, o.file, dir)
		case err != nil:
			return fmt.Errorf("%s %q: %w", o.flag, o.file, err)
		case !st.IsDir():
			return fmt.Errorf("%s %q: %q is not a directory", o.flag, o.file, dir)
		}
		st, err = os.Stat(o.file)
		switch {
		case err == nil && st.IsDir():
			return fmt.Errorf("%s %q: is a directory; name a file", o.flag, o.file)
		case err == nil:
			for _, in := range inputs {
				if ist, err := os.Stat(in); err == nil && os.SameFile(st, ist) {
					return fmt.Errorf("%s %q would overwrite the %s %q", o.flag, o.file, what, in)
				}
			}
			if st.Mode().IsRegular() { // a device such as /dev/stdout is the caller's choice
				f, err := os.OpenFile(o.file, os.O_WRONLY, 0) // no O_TRUNC: it stays as it is
				if err != nil {
					return fmt.Errorf("%s %q: %w", o.flag, o.file, errors.Unwrap(err))
				}
				_ = f.Close()
			}
		case !probed[dir]:
			probe, err := os.CreateTemp(dir, ".sipnatlab-probe-*")
			if err != nil {
				return fmt.Errorf("%s %q: cannot write in %q: %w", o.flag, o.file, dir, errors.Unwrap(err))
			}
			_ = probe.Close()
			_ = os.Remove(probe.Name())
			probed[dir] = true
		}
	}
	return nil
}

// terminalWidth is the width in columns of the terminal w writes to, for the text
// ladder; 0 (the report's default) when w is no terminal.
func terminalWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return width
}

// htmlIndexOutputs is the index page --html FILE makes of a run of several scenarios:
// FILE itself, beside the pages named by outputName; none for one scenario.
func htmlIndexOutputs(file string, names []string) []output {
	if file == "" || len(names) < 2 {
		return nil
	}
	return []output{{"--html", file, file}}
}

// writeHTMLIndex writes the index page of a run of several scenarios to file, linking
// the page of each (outputName, in the same directory); nothing for one scenario or
// when file is "".
func writeHTMLIndex(irq *interrupts, file string, outcomes []outcome) error {
	if file == "" || len(outcomes) < 2 {
		return nil
	}
	var entries []report.IndexEntry
	for _, o := range outcomes {
		page := filepath.Base(outputName(file, o.s.Name, len(outcomes)))
		entries = append(entries, report.IndexEntry{Scenario: o.s, Result: o.res, Err: o.err, Page: page})
	}
	return irq.writeFile("--html", file, func(w io.Writer) error { return report.WriteHTMLIndex(w, entries) })
}

// pcapDirOutputs lists the captures --pcap-dir DIR makes: one per host and NAT of each
// scenario, DIR/HOST.pcap, with the scenario's name inserted as outputName does when
// there are several.
func pcapDirOutputs(dir string, scenarios []*scenario.Scenario) []output {
	if dir == "" {
		return nil
	}
	var out []output
	for _, s := range scenarios {
		for _, host := range hostsOf(s) {
			out = append(out, output{"--pcap-dir", dir, outputName(filepath.Join(dir, host+".pcap"), s.Name, len(scenarios))})
		}
	}
	return out
}

// hostsOf names the hosts and NATs of s.
func hostsOf(s *scenario.Scenario) []string {
	var names []string
	for _, h := range s.Hosts {
		names = append(names, h.Name)
	}
	for _, n := range s.NATs {
		names = append(names, n.Name)
	}
	return names
}

// writePcapDir writes, for every run that produced a Result, what a tcpdump on each of
// its hosts and NATs would have captured, to the files pcapDirOutputs names.
func writePcapDir(irq *interrupts, dir string, outcomes []outcome) error {
	if dir == "" {
		return nil
	}
	for _, o := range outcomes {
		if o.res == nil {
			continue
		}
		for _, host := range hostsOf(o.s) {
			file := outputName(filepath.Join(dir, host+".pcap"), o.s.Name, len(outcomes))
			if err := irq.writeFile("--pcap-dir", file, func(w io.Writer) error { return report.WriteHostPcap(w, o.res, host) }); err != nil {
				return err
			}
		}
	}
	return nil
}
