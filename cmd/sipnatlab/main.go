// Command sipnatlab runs SIP NAT scenarios on a simulated network and judges
// whether the ACK for the callee's 200 OK arrived, and if not, who lost it.
//
// Usage:
//
//	sipnatlab COMMAND [flags] ARGS...
//	sipnatlab COMMAND --help
//	sipnatlab --version
//
// The commands (run, validate, explain, lint, judge, diagnose, matrix) are listed by
// sipnatlab --help; flags may stand anywhere on the line.
//
// Exit codes: 0 every expectation held, 1 some expectation failed (or the run was
// interrupted), 2 bad input or usage.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/sipnatlab/sipnatlab/harness/report"
)

// commands lists every subcommand in the order the global help shows them.
// A new subcommand is a file with its constructor and one line here.
func commands() []*command {
	return []*command{
		runCommand(),
		validateCommand(),
		explainCommand(),
		lintCommand(),
		judgeCommand(),
		diagnoseCommand(),
		matrixCommand(),
	}
}

const globalHelp = `sipnatlab runs SIP NAT scenarios on virtual hosts, NAT boxes and proxies,
prints a ladder of every hop and judges whether the ACK for the callee's
200 OK arrived, and if not, who lost it.

usage: sipnatlab COMMAND [flags] ARGS...

Commands:
%s
Flags may stand anywhere on the line; "--" ends them.
  sipnatlab COMMAND --help   the command's help (or: sipnatlab help COMMAND)
  sipnatlab --version        the module version and VCS revision

Exit codes: 0 every expectation held, 1 an expectation failed, 2 bad input
or usage.
`

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	irq := &interrupts{cancel: cancel, exit: os.Exit}
	stop := irq.notify()
	code := run(ctx, irq, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	cancel()
	os.Exit(code)
}

// genericNotice is what the first interrupt says for a command that sets no notice of
// its own.
const genericNotice = "sipnatlab: interrupted: stopping, then printing what was done (interrupt again to stop at once)"

// run runs the command args and returns its exit code; irq is what interrupts do to
// it (its zero value in process, where none arrive). Whatever it writes to stdout and
// stderr passes through report.TerminalSafe: scenario files, SIP messages and captures
// carry strings written by anyone.
func run(ctx context.Context, irq *interrupts, args []string, stdout, stderr io.Writer) int {
	term := isTerminal(stdout) && os.Getenv("NO_COLOR") == ""
	env := &env{
		stdout:    report.TerminalSafe(stdout, term),
		stderr:    report.TerminalSafe(stderr, false),
		term:      term,
		width:     terminalWidth(stdout),
		errorTerm: isTerminal(stderr) && os.Getenv("TERM") != "dumb",
		rawStderr: stderr,
		irq:       irq,
	}
	irq.setup(env.stderr, genericNotice)
	cmds := commands()
	if len(args) == 0 {
		fmt.Fprint(env.stderr, globalUsage(cmds))
		return 2
	}
	switch args[0] {
	case "-h", "--help", "-help", "help":
		if len(args) > 1 && args[0] == "help" {
			if c := find(cmds, args[1]); c != nil {
				fmt.Fprint(env.stdout, c.helpText())
				return 0
			}
			fmt.Fprintf(env.stderr, "sipnatlab help: unknown command %q\n%s", args[1], globalUsage(cmds))
			return 2
		}
		fmt.Fprint(env.stdout, globalUsage(cmds))
		return 0
	case "--version", "-version", "version":
		fmt.Fprintln(env.stdout, version())
		return 0
	}
	c := find(cmds, args[0])
	switch {
	case c == nil && strings.HasPrefix(args[0], "-"):
		fmt.Fprintf(env.stderr, "sipnatlab: flag %s before the command: flags follow it (sipnatlab COMMAND [flags] ARGS...)\n%s", args[0], globalUsage(cmds))
		return 2
	case c == nil:
		fmt.Fprintf(env.stderr, "sipnatlab: unknown command %q\n%s", args[0], globalUsage(cmds))
		return 2
	}
	return c.run(ctx, env, args[1:])
}

// env is where a command writes: stdout and stderr already terminal-safe, whether
// stdout is a terminal that takes colours and stderr one that takes live progress, and
// the width of stdout's terminal (0 when it is none).
type env struct {
	stdout, stderr  io.Writer
	term, errorTerm bool
	width           int
	rawStderr       io.Writer   // stderr unfiltered, for the progress lines' cursor moves only
	cmd             *command    // the command running, for its usage line
	irq             *interrupts // what SIGINT and SIGTERM do; it writes the output files
}

// command is one subcommand: its name, its help and flags, and what it does once its
// flags are parsed.
type command struct {
	name    string // as typed: "run"
	args    string // the operands after the flags, for the usage line: "FILE|DIR..."
	summary string // one line for the global help
	help    string // the paragraphs of its --help between the usage line and the flags
	// flags declares the command's flags on fs and returns what runs once they are
	// parsed, with the operands left.
	flags func(fs *pflag.FlagSet) func(ctx context.Context, e *env, args []string) int
}

// run parses the command's flags (anywhere on the line) and runs it: --help prints its
// help to stdout and exits 0; a bad flag prints the error and its usage to stderr and
// exits 2.
func (c *command) run(ctx context.Context, e *env, args []string) int {
	fs := pflag.NewFlagSet(c.name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.SortFlags = false
	do := c.flags(fs)
	if err := fs.Parse(oneDashLong(fs, args)); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(e.stdout, c.helpText())
			return 0
		}
		return c.usageError(e, "%v", err)
	}
	e.cmd = c
	return do(ctx, e, fs.Args())
}

// oneDashLong rewrites the long flags written with one dash, as Go's flag package takes
// them ("-json", "-clock=simulated"), to two, so command lines written for the commands
// before they took flags anywhere keep working. Only names of fs's long flags are
// rewritten; "-v" and "-h" stay shorthands, and nothing after "--" is touched.
func oneDashLong(fs *pflag.FlagSet, args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if name, _, _ := strings.Cut(strings.TrimPrefix(a, "-"), "="); len(a) > 2 && a[0] == '-' && a[1] != '-' && len(name) > 1 && fs.Lookup(name) != nil {
			a = "-" + a
		}
		out = append(out, a)
	}
	return out
}

// usageError prints "sipnatlab NAME: MESSAGE" and the command's usage line to stderr
// and returns exit code 2.
func (c *command) usageError(e *env, format string, a ...any) int {
	fmt.Fprintf(e.stderr, "sipnatlab %s: %s\n%s\nRun 'sipnatlab %s --help' for the flags.\n",
		c.name, fmt.Sprintf(format, a...), c.usageLine(), c.name)
	return 2
}

// usageError is the running command's usageError.
func (e *env) usageError(format string, a ...any) int {
	return e.cmd.usageError(e, format, a...)
}

// fail prints "sipnatlab: ERR" to stderr and returns code.
func (e *env) fail(code int, err error) int {
	fmt.Fprintf(e.stderr, "sipnatlab: %v\n", err)
	return code
}

func (c *command) usageLine() string {
	return fmt.Sprintf("usage: sipnatlab %s [flags] %s", c.name, c.args)
}

// helpText is the command's --help: usage line, description, flags.
func (c *command) helpText() string {
	fs := pflag.NewFlagSet(c.name, pflag.ContinueOnError)
	fs.SortFlags = false
	c.flags(fs)
	fs.BoolP("help", "h", false, "print this help")
	return c.usageLine() + "\n\n" + strings.TrimSpace(c.help) + "\n\nFlags:\n" + fs.FlagUsagesWrapped(80)
}

// globalUsage is the global help listing the commands.
func globalUsage(cmds []*command) string {
	var list strings.Builder
	for _, c := range cmds {
		fmt.Fprintf(&list, "  %-10s %s\n", c.name, c.summary)
	}
	return fmt.Sprintf(globalHelp, list.String())
}

func find(cmds []*command, name string) *command {
	for _, c := range cmds {
		if c.name == name {
			return c
		}
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
