package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// Labels that tie what Run, Start and CheckConfigFile create to the process that
// created it, so Sweep can tell a live owner's containers from a dead one's.
const (
	ownerLabel = "org.sipnatlab.owner" // "pid-" and the process id
	bootLabel  = "org.sipnatlab.boot"  // the kernel's boot id when the owner ran
	startLabel = "org.sipnatlab.start" // the owner's start time, in clock ticks after boot
)

// Owner is the owner label value for the calling process: "pid-" and its id.
func Owner() string { return fmt.Sprintf("pid-%d", os.Getpid()) }

// bootID is the kernel's boot id ("" when unknown).
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// startTime is process pid's start time in clock ticks after boot (field 22 of
// /proc/PID/stat); "" when the process does not exist.
func startTime(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

// ownerLabels are the labels naming the calling process as owner.
func ownerLabels() map[string]string {
	l := map[string]string{ownerLabel: Owner()}
	if b := bootID(); b != "" {
		l[bootLabel] = b
	}
	if t := startTime(os.Getpid()); t != "" {
		l[startLabel] = t
	}
	return l
}

// ownerGone reports whether the process a resource's labels name as its owner no
// longer runs: another boot, no such process, or another process with its id.
// Resources with no owner label have none to outlive and are never reported.
func ownerGone(labels map[string]string) bool {
	pid, err := strconv.Atoi(strings.TrimPrefix(labels[ownerLabel], "pid-"))
	if err != nil || pid <= 0 {
		return false
	}
	if b := labels[bootLabel]; b != "" && b != bootID() {
		return true
	}
	now := startTime(pid)
	if now == "" {
		return true
	}
	return labels[startLabel] != "" && labels[startLabel] != now
}

// Sweep removes the containers and networks (and with a network its bridge and the
// addresses added to it) that this package created for a process that no longer
// runs: what a killed run left behind. Other processes' live proxies are left
// alone. It returns the names of what it removed.
func Sweep(ctx context.Context) ([]string, error) {
	cli, err := newClient(ctx)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	var removed []string
	var errs []error
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", "org.sipnatlab")})
	if err != nil {
		return nil, fmt.Errorf("sweep: list containers: %w", err)
	}
	for _, c := range cs.Items {
		if !ownerGone(c.Labels) {
			continue
		}
		var err error
		if run := c.Labels[runLabel]; run != "" {
			err = removeContainers(ctx, runLabel+"="+run) // also one still being created
		} else if _, err = cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true}); cerrdefs.IsNotFound(err) {
			err = nil
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("sweep: remove container %s: %w", c.ID[:12], err))
			continue
		}
		removed = append(removed, "container "+c.ID[:12])
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: make(client.Filters).Add("label", "org.sipnatlab")})
	if err != nil {
		return removed, errors.Join(append(errs, fmt.Errorf("sweep: list networks: %w", err))...)
	}
	for _, n := range ns.Items {
		if !ownerGone(n.Labels) {
			continue
		}
		if _, err := cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); cerrdefs.IsNotFound(err) {
			continue // another process's sweep removed it first
		} else if err != nil {
			errs = append(errs, fmt.Errorf("sweep: remove network %s: %w", n.Name, err))
			continue
		}
		removed = append(removed, "network "+n.Name)
	}
	return removed, errors.Join(errs...)
}
