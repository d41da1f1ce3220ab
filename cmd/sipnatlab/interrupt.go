package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

// interruptedAgain is the exit code of a process a second interrupt ended: 1, as for
// any run that could not finish.
const interruptedAgain = 1

// drainLimit bounds how long a second interrupt waits for the real proxies'
// containers to be removed (removal itself gives up after 10 s per proxy).
const drainLimit = 30 * time.Second

// errInterrupted refuses what a second interrupt came too early for: an output file's
// completion, a real proxy's start.
var errInterrupted = errors.New("interrupted")

// interrupts is what SIGINT and SIGTERM do to the running command. The first cancels
// its context and prints the notice on stderr, what the command still does: run,
// validate and explain stop their runs and write the report and files of what ran.
// The second ends the process at once with exit code 1, once it has removed what
// must not outlive it: the real proxies' containers (it waits for their removal, at
// most drainLimit), the output files not yet complete (each is written to a temporary
// file, renamed when complete) and the output directories made for them that are
// still empty. With no notice (a command loading its scenarios: nothing ran yet), the
// first interrupt does as the second. The zero value, for a command run in process,
// never exits. Safe for concurrent use.
type interrupts struct {
	cancel context.CancelFunc // the command's context
	exit   func(code int)     // os.Exit; nil in process

	mu      sync.Mutex
	stderr  io.Writer
	notice  string
	live    func()          // stops what draws on stderr (the progress lines) before a notice
	signals int             // interrupts received
	ending  bool            // ending at once: no output is completed any more
	temps   map[string]bool // temporary files being written
	dirs    []string        // directories made for outputs, parents first
	proxies int             // real proxies starting or started, not yet removed
	drained chan struct{}   // closed when proxies drops to 0 while ending
}

// notify delivers SIGINT and SIGTERM to i until the returned function is called.
func (i *interrupts) notify() (stop func()) {
	sigs := make(chan os.Signal, 3)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range sigs {
			i.signal()
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(sigs)
		<-done
	}
}

// setup gives i where to write its notes and the notice of the command about to run.
func (i *interrupts) setup(stderr io.Writer, notice string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.stderr, i.notice = stderr, notice
}

// setNotice sets what the first interrupt prints; "" makes it end the process at once.
func (i *interrupts) setNotice(notice string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.notice = notice
}

// setLive registers stop, which stops and clears what draws on stderr; the first
// interrupt calls it before the notice. It may be called more than once.
func (i *interrupts) setLive(stop func()) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.live = stop
}

// signal takes one SIGINT or SIGTERM. Ending the process, it returns at once and ends
// it from a goroutine of its own, so that a third may end it while the second waits.
func (i *interrupts) signal() {
	i.mu.Lock()
	i.signals++
	note := "sipnatlab: interrupted again: stopped at once; the report and the files not yet written are missing"
	switch {
	case i.ending: // a third, while the real proxies are being removed
		i.mu.Unlock()
		i.printf("sipnatlab: interrupted a third time: stopped without waiting for the real proxies' removal (the next start removes them)\n")
		if i.exit != nil {
			i.exit(interruptedAgain)
		}
		return
	case i.notice == "":
		note = "sipnatlab: interrupted before anything ran"
		fallthrough
	case i.signals > 1:
		i.ending = true
		i.mu.Unlock()
		go i.end(note)
		return
	}
	notice, live, cancel := i.notice, i.live, i.cancel
	i.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if live != nil {
		live()
	}
	i.printf("%s\n", notice)
}

// end ends the process with interruptedAgain once signal has set ending (no output is
// completed any more): it waits for the real proxies' removal, removes the temporary
// files and the empty output directories, and prints note, what was left undone.
func (i *interrupts) end(note string) {
	i.mu.Lock()
	if i.cancel != nil {
		i.cancel()
	}
	live, proxies := i.live, i.proxies
	if proxies > 0 {
		i.drained = make(chan struct{})
	}
	drained := i.drained
	i.mu.Unlock()
	if live != nil {
		live()
	}
	if proxies > 0 {
		i.printf("sipnatlab: interrupted: removing the real proxies' containers first (%d run(s); interrupt again not to wait)\n", proxies)
		select {
		case <-drained:
		case <-time.After(drainLimit):
			i.printf("sipnatlab: the real proxies were not removed within %s; the next start removes what is left\n", drainLimit)
		}
	}
	i.mu.Lock()
	for tmp := range i.temps {
		_ = os.Remove(tmp)
	}
	removeEmpty(i.dirs)
	i.mu.Unlock()
	i.printf("%s\n", note)
	if i.exit != nil {
		i.exit(interruptedAgain)
	}
}

func (i *interrupts) printf(format string, a ...any) {
	i.mu.Lock()
	w := i.stderr
	i.mu.Unlock()
	if w != nil {
		fmt.Fprintf(w, format, a...)
	}
}

// writeFile writes file with write, through a temporary file in the same directory
// renamed to file once complete, so that file is never seen half-written; flag names
// the option that asked for it in the error. A symbolic link is followed; a file that
// exists and is no regular file (a device such as /dev/stdout) is written in place.
func (i *interrupts) writeFile(flag, file string, write func(io.Writer) error) error {
	if st, err := os.Stat(file); err == nil && !st.Mode().IsRegular() {
		return writeInPlace(flag, file, write)
	}
	if target, err := filepath.EvalSymlinks(file); err == nil {
		file = target
	}
	f, err := i.createTemp(file)
	if err != nil {
		return fmt.Errorf("%s: %w", flag, err)
	}
	tmp := f.Name()
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = i.commit(tmp, file)
	}
	if err != nil {
		i.abandon(tmp)
		return fmt.Errorf("%s %s: %w", flag, file, err)
	}
	return nil
}

// createTemp creates a new temporary file beside file, with the mode a new file gets
// (0666 less the umask), and records it until commit or abandon.
func (i *interrupts) createTemp(file string) (*os.File, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.ending {
		return nil, errInterrupted
	}
	for {
		tmp := filepath.Join(filepath.Dir(file), ".sipnatlab-"+rand.Text()[:12]+".tmp")
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if i.temps == nil {
			i.temps = map[string]bool{}
		}
		i.temps[tmp] = true
		return f, nil
	}
}

// commit renames the complete temporary file tmp to file, keeping the mode of the file
// it replaces, unless the process is ending.
func (i *interrupts) commit(tmp, file string) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.ending {
		return errInterrupted
	}
	if st, err := os.Stat(file); err == nil {
		if err := os.Chmod(tmp, st.Mode().Perm()); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, file); err != nil {
		return err
	}
	delete(i.temps, tmp)
	return nil
}

// abandon removes the temporary file tmp.
func (i *interrupts) abandon(tmp string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	_ = os.Remove(tmp)
	delete(i.temps, tmp)
}

// writeInPlace writes file, which exists and is no regular file, with write.
func writeInPlace(flag, file string, write func(io.Writer) error) error {
	f, err := os.OpenFile(file, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("%s: %w", flag, err)
	}
	if err := write(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("%s %s: %w", flag, file, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("%s: %w", flag, err)
	}
	return nil
}

// mkdirAll makes dir and its missing parents, remembering those it made so that
// removeEmptyDirs and a second interrupt can remove them while they are empty.
func (i *interrupts) mkdirAll(dir string) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.ending {
		return errInterrupted
	}
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil || filepath.Dir(d) == d {
			break
		}
		missing = append(missing, d)
	}
	err := os.MkdirAll(dir, 0o755)
	for _, d := range slices.Backward(missing) {
		if st, serr := os.Stat(d); serr == nil && st.IsDir() {
			i.dirs = append(i.dirs, d)
		}
	}
	return err
}

// removeEmptyDirs removes the directories mkdirAll made that are still empty.
func (i *interrupts) removeEmptyDirs() {
	i.mu.Lock()
	defer i.mu.Unlock()
	removeEmpty(i.dirs)
	i.dirs = nil
}

// removeEmpty removes those of dirs (parents first) that are empty, children first.
func removeEmpty(dirs []string) {
	for _, d := range slices.Backward(dirs) {
		_ = os.Remove(d) // fails, as it should, on a directory with something in it
	}
}

// realProxies is proxies as the interrupts see them: a second interrupt waits until
// every real proxy started is removed, and refuses new starts.
func (i *interrupts) realProxies(proxies harness.Proxies) harness.Proxies {
	return &trackedProxies{Proxies: proxies, i: i}
}

// trackedProxies counts the real proxies of a harness.Proxies in its interrupts.
type trackedProxies struct {
	harness.Proxies
	i *interrupts
}

func (p *trackedProxies) Start(ctx context.Context, s *scenario.Scenario, specs map[string]harness.Container) (harness.Started, error) {
	i := p.i
	i.mu.Lock()
	if i.ending {
		i.mu.Unlock()
		return nil, errInterrupted
	}
	i.proxies++
	i.mu.Unlock()
	st, err := p.Proxies.Start(ctx, s, specs)
	if st == nil {
		i.removed()
		return nil, err
	}
	return &trackedStarted{Started: st, removed: sync.OnceFunc(i.removed)}, err
}

// removed counts one real proxy's Close done.
func (i *interrupts) removed() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.proxies--
	if i.proxies == 0 && i.drained != nil {
		close(i.drained)
		i.drained = nil
	}
}

// trackedStarted is a harness.Started that says when its Close is done.
type trackedStarted struct {
	harness.Started
	removed func()
}

func (t *trackedStarted) Close() {
	t.Started.Close()
	t.removed()
}

// Logs are the real proxies' logs when the Started offers them (harness.LogsReporter).
func (t *trackedStarted) Logs() map[string]string {
	if lr, ok := t.Started.(harness.LogsReporter); ok {
		return lr.Logs()
	}
	return nil
}
