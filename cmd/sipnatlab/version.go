package main

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// version is what --version prints: the module version and the VCS revision the binary
// was built from, as the Go toolchain stamped them.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "sipnatlab (no build information)"
	}
	return versionOf(info)
}

// versionOf formats the build information: "sipnatlab v1.2.3 (revision 0a85f18…, 2026-12-01T22:54:34Z, modified) go1.26.8".
// A binary built inside the repository has version "(devel)"; "go install …@v1.2.3" stamps v1.2.3.
func versionOf(info *debug.BuildInfo) string {
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var vcs []string
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if r := settings["vcs.revision"]; r != "" {
		vcs = append(vcs, "revision "+r)
	}
	if t := settings["vcs.time"]; t != "" {
		vcs = append(vcs, t)
	}
	if settings["vcs.modified"] == "true" {
		vcs = append(vcs, "modified")
	}
	if len(vcs) == 0 {
		vcs = append(vcs, "no VCS revision")
	}
	return fmt.Sprintf("sipnatlab %s (%s) %s", v, strings.Join(vcs, ", "), info.GoVersion)
}
