package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	tclog "github.com/testcontainers/testcontainers-go/log"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/matrix"
	"github.com/sipnatlab/sipnatlab/harness/realproxy"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

const matrixUsage = `usage: sipnatlab matrix [--json] [--html DIR] [--emit DIR] [--shard I/N] [--jobs N]
                        [--only AXIS=V1,V2]... [--proxy HOST=ENGINE:CONFIG] [--clock simulated|real] TEMPLATE.yaml
       sipnatlab matrix merge [--json] [--html DIR] SHARD.json...

Runs every cell of a matrix template (a scenario with a matrix: block,
docs/scenario-format.md) and prints a table of outcomes, one row per
combination of the row axes, one column per combination of the column axes,
and a summary of which axis values lose the ACK.

  --json     print the JSON report instead of the table
  --html     write DIR/index.html (the table) and DIR/cells/CELL.html (each
             cell's ladder, linked from the table)
  --emit     write each selected cell as DIR/CELL.yaml, an ordinary scenario
             (sipnatlab run DIR/CELL.yaml reruns it alone), and run nothing
  --shard    run shard I of N: the cells whose index is I-1 modulo N (CI jobs
             of a parallel matrix); sipnatlab matrix merge joins their --json
  --jobs     cells run at once (default: the CPUs; 2 with --proxy, each cell
             starting its own container)
  --only     keep only these values of an axis (repeatable)
  --proxy    a real proxy in place of the in-process HOST in every cell, e.g.
             proxy-b=kamailio:fixtures/kamailio/correct.cfg; the cells then run
             in real time on internal Docker networks (one proxy per cell)
  --clock    simulated (default without --proxy) or real
  --seed N   seed of the Call-IDs, tags and branches of every cell

merge reads the --json reports of the shards of one run and prints the
report of the whole run (the same JSON the unsharded run prints).

Exit codes: 0 every cell met its expectations, 1 some did not, 2 bad input.
`

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// cmdMatrix is `sipnatlab matrix`.
func cmdMatrix(ctx context.Context, args []string, stdout, stderr io.Writer, term bool) int {
	if len(args) > 0 && args[0] == "merge" {
		return cmdMatrixMerge(args[1:], stdout, stderr, term)
	}
	fs := flag.NewFlagSet("matrix", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, matrixUsage) }
	asJSON := fs.Bool("json", false, "print the JSON report")
	htmlDir := fs.String("html", "", "write the HTML table and ladders to `DIR`")
	emitDir := fs.String("emit", "", "write the cells as scenarios to `DIR` and run nothing")
	shardFlag := fs.String("shard", "", "run shard `I/N`")
	jobs := fs.Int("jobs", 0, "cells run at once")
	clockFlag := fs.String("clock", "", "simulated or real")
	seed := fs.Uint64("seed", 0, "seed of the identifiers")
	verbose := fs.Bool("v", false, "print each cell as it ends, and the containers' log")
	var only, proxies listFlag
	fs.Var(&only, "only", "keep only `AXIS=V1,V2`")
	fs.Var(&proxies, "proxy", "real proxy `HOST=ENGINE:CONFIG`")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "sipnatlab matrix: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() != 1 {
		return bad("give exactly one template file\n%s", matrixUsage)
	}
	tpl, err := matrix.Load(fs.Arg(0))
	if err != nil {
		return bad("%v", err)
	}
	opts := matrix.Options{Workers: *jobs, Only: map[string][]string{}}
	if *jobs < 0 {
		return bad("--jobs %d: want a positive number", *jobs)
	}
	if *shardFlag != "" {
		if opts.Shard, err = matrix.ParseShard(*shardFlag); err != nil {
			return bad("--shard: %v", err)
		}
	}
	for _, o := range only {
		axis, vals, ok := strings.Cut(o, "=")
		if !ok || axis == "" || vals == "" {
			return bad("--only %q: want AXIS=VALUE[,VALUE...]", o)
		}
		opts.Only[axis] = append(opts.Only[axis], strings.Split(vals, ",")...)
	}
	idx, err := tpl.Select(opts)
	if err != nil {
		return bad("--only: %v", err)
	}
	if *emitDir != "" {
		return emitCells(tpl, idx, *emitDir, stdout, stderr)
	}

	opts.Run = harness.Options{Seed: *seed}
	if *clockFlag != "" {
		if opts.Run.Clock, err = harness.ParseClockMode(*clockFlag); err != nil {
			return bad("--clock: %v", err)
		}
	}
	if len(proxies) > 0 {
		if opts.Run.Containers, err = parseProxies(proxies, tpl); err != nil {
			return bad("--proxy: %v", err)
		}
		if opts.Run.Clock == harness.Simulated {
			return bad("--proxy: a real proxy runs in real time only")
		}
		opts.Run.Proxies = realproxy.Docker{}
		if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
			os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
		}
		if !*verbose {
			tclog.SetDefault(tclog.NewNoopLogger())
		}
		fmt.Fprintf(stderr, "sipnatlab matrix: %d cells in real time, each with its own container; interrupt to stop\n", len(idx))
	} else if opts.Run.Clock == harness.RealTime {
		opts.Run.InProcess = true
		fmt.Fprintf(stderr, "sipnatlab matrix: %d cells in real time on loopback; interrupt to stop\n", len(idx))
	}
	if *htmlDir != "" || *verbose {
		n := 0
		opts.Done = func(c *matrix.Cell, res *harness.Result, runErr error) {
			n++
			if *verbose {
				fmt.Fprintf(stderr, "sipnatlab matrix: %d/%d %s\n", n, len(idx), c.Name)
			}
			if *htmlDir != "" {
				if err := matrix.WriteLadder(*htmlDir, c, res, runErr); err != nil {
					fmt.Fprintf(stderr, "sipnatlab matrix: --html: %v\n", err)
				}
			}
		}
	}
	rep, err := tpl.Run(ctx, opts)
	if rep == nil {
		return bad("%v", err)
	}
	code := printMatrix(rep, *asJSON, *htmlDir, stdout, stderr, term)
	if err != nil { // interrupted: the table holds the cells that ran
		fmt.Fprintf(stderr, "sipnatlab matrix: interrupted: %v\n", err)
		return max(code, 1)
	}
	return code
}

// printMatrix prints the report (table or JSON), writes its HTML page when dir is set,
// and returns the exit code.
func printMatrix(rep *matrix.Report, asJSON bool, dir string, stdout, stderr io.Writer, term bool) int {
	if asJSON {
		if err := rep.WriteJSON(stdout); err != nil {
			fmt.Fprintf(stderr, "sipnatlab matrix: %v\n", err)
			return 2
		}
	} else {
		rep.WriteText(stdout, term)
	}
	if dir != "" {
		if err := writeMatrixHTML(rep, dir); err != nil {
			fmt.Fprintf(stderr, "sipnatlab matrix: --html: %v\n", err)
			return 2
		}
	}
	if !rep.Passed {
		return 1
	}
	return 0
}

func writeMatrixHTML(rep *matrix.Report, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "index.html"))
	if err != nil {
		return err
	}
	if err := rep.WriteHTML(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func emitCells(tpl *matrix.Template, idx []int, dir string, stdout, stderr io.Writer) int {
	cells := make([]*matrix.Cell, 0, len(idx))
	for _, i := range idx {
		c, err := tpl.Cell(i)
		if err != nil {
			fmt.Fprintf(stderr, "sipnatlab matrix: %v\n", err)
			return 2
		}
		cells = append(cells, c)
	}
	files, err := tpl.Emit(dir, cells)
	if err != nil {
		fmt.Fprintf(stderr, "sipnatlab matrix: --emit: %v\n", err)
		return 2
	}
	for _, f := range files {
		fmt.Fprintln(stdout, f)
	}
	return 0
}

// parseProxies reads --proxy HOST=ENGINE:CONFIG values; HOST must be a proxy of the
// template.
func parseProxies(vals []string, tpl *matrix.Template) (map[string]harness.Container, error) {
	cell, err := tpl.Cell(0)
	if err != nil {
		return nil, err
	}
	out := map[string]harness.Container{}
	for _, v := range vals {
		host, spec, ok1 := strings.Cut(v, "=")
		engine, config, ok2 := strings.Cut(spec, ":")
		if !ok1 || !ok2 || host == "" || config == "" {
			return nil, fmt.Errorf("%q: want HOST=ENGINE:CONFIG, e.g. proxy-b=kamailio:fixtures/kamailio/correct.cfg", v)
		}
		eng, err := scenario.ParseEngine(engine)
		if err != nil {
			return nil, fmt.Errorf("%q: engine %q: want kamailio or opensips", v, engine)
		}
		if h, ok := cell.Scenario.Host(host); !ok || h.Role != scenario.RoleProxy {
			return nil, fmt.Errorf("%q: the template has no proxy host %s", v, host)
		}
		if st, err := os.Stat(config); err != nil || !st.Mode().IsRegular() {
			return nil, fmt.Errorf("%q: config %s is not a readable file", v, config)
		}
		if _, dup := out[host]; dup {
			return nil, fmt.Errorf("%q: host %s is given twice", v, host)
		}
		out[host] = harness.Container{Engine: eng, Config: config}
	}
	return out, nil
}

// cmdMatrixMerge is `sipnatlab matrix merge`.
func cmdMatrixMerge(args []string, stdout, stderr io.Writer, term bool) int {
	fs := flag.NewFlagSet("matrix merge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, matrixUsage) }
	asJSON := fs.Bool("json", false, "print the JSON report")
	htmlDir := fs.String("html", "", "write the HTML table to `DIR`/index.html")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintf(stderr, "sipnatlab matrix merge: give the shards' JSON reports\n%s", matrixUsage)
		return 2
	}
	var reps []*matrix.Report
	for _, f := range fs.Args() {
		r, err := matrix.ReadReport(f)
		if err != nil {
			fmt.Fprintf(stderr, "sipnatlab matrix merge: %v\n", err)
			return 2
		}
		reps = append(reps, r)
	}
	rep, err := matrix.Merge(reps...)
	if err != nil {
		fmt.Fprintf(stderr, "sipnatlab matrix merge: %v\n", err)
		return 2
	}
	if n := rep.Expected(); len(rep.Cells) != n {
		fmt.Fprintf(stderr, "sipnatlab matrix merge: %d of the run's %d cells are in these reports; a shard is missing\n", len(rep.Cells), n)
		return 2
	}
	return printMatrix(rep, *asJSON, *htmlDir, stdout, stderr, term)
}
