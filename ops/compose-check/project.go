package main

import (
	"context"
	"fmt"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// loadProject loads the compose file as `docker compose --env-file ENV config` would: schema validation,
// interpolation from the env file alone (so the result does not depend on who runs it), normalisation and
// the consistency checks (unknown networks, volumes, secrets, dependency cycles...).
func loadProject(in inputs) (*types.Project, error) {
	opts, err := cli.NewProjectOptions(
		[]string{in.compose},
		cli.WithWorkingDirectory(in.root),
		cli.WithEnvFiles(in.envFile),
		cli.WithDotEnv,
		cli.WithInterpolation(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		return nil, usageError{fmt.Errorf("reading %s: %w", in.rel(in.envFile), err)}
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		return nil, fmt.Errorf("%s is not a valid compose file (env file %s): %w",
			in.rel(in.compose), in.rel(in.envFile), err)
	}
	return project, nil
}
