package main

import (
	"context"
	"os"

	"github.com/spf13/pflag"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

func validateCommand() *command {
	return &command{
		name:    "validate",
		args:    "--config FILE --as HOST FILE|DIR...",
		summary: "run scenarios with a real Kamailio or OpenSIPS in a container as one proxy",
		help: `Runs the scenarios with a real proxy in a container (built locally, on an
internal Docker network) in place of the in-process proxy HOST, in real time,
and prints the same report and verdict as run. The images:
sipnatlab/kamailio:5.6 and sipnatlab/opensips:3.6, built locally (make image);
--image, or SIPNATLAB_OPENSIPS_IMAGE for opensips, names another (e.g. the
official opensips/opensips:3.6 where a registry answers).

Exit codes: 0 every expectation held, 1 an expectation failed, 2 bad input.`,
		flags: func(fs *pflag.FlagSet) func(context.Context, *env, []string) int {
			engine := fs.String("engine", string(scenario.EngineKamailio), "kamailio or opensips")
			config := fs.String("config", "", "the proxy's config `FILE` (required)")
			as := fs.String("as", "", "the proxy `HOST` of the scenario the container replaces (required)")
			image := fs.String("image", "", "the container `IMAGE` (default sipnatlab/kamailio:5.6, or for opensips $SIPNATLAB_OPENSIPS_IMAGE else sipnatlab/opensips:3.6)")
			rf := addRunFlags(fs)
			return func(ctx context.Context, e *env, args []string) int {
				if *config == "" || *as == "" {
					return e.usageError("--config and --as are required")
				}
				eng, err := scenario.ParseEngine(*engine)
				if err != nil {
					return e.usageError("--engine %q: want kamailio or opensips", *engine)
				}
				img := *image
				if img == "" && eng == scenario.EngineOpenSIPS {
					img = os.Getenv("SIPNATLAB_OPENSIPS_IMAGE")
				}
				containers := map[string]harness.Container{*as: {Engine: eng, Config: *config, Image: img}}
				return runScenarios(ctx, e, rf, containers, args)
			}
		},
	}
}
