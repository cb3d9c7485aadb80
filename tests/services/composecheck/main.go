// composecheck loads a Compose file the way `docker compose` does (the Compose
// specification's own Go module: interpolation, the JSON schema, depends_on and
// healthcheck checks, env files) and prints the resolved project as JSON, so the
// test suite can check deploy/compose/ on a machine without a container engine.
//
//	composecheck [-env-file F] [-project-dir D] compose.yaml
//
// Exit status 1 with the loader's message on stderr when the file is invalid.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	envFile := flag.String("env-file", "", "env file for interpolation (like docker compose --env-file)")
	projectDir := flag.String("project-dir", "", "project directory (default: the compose file's)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: composecheck [-env-file F] [-project-dir D] compose.yaml")
		os.Exit(2)
	}
	opts := []cli.ProjectOptionsFn{cli.WithName("cskh"), cli.WithOsEnv}
	if *projectDir != "" {
		opts = append(opts, cli.WithWorkingDirectory(*projectDir))
	}
	if *envFile != "" {
		opts = append(opts, cli.WithEnvFiles(*envFile))
	}
	opts = append(opts, cli.WithDotEnv, cli.WithInterpolation(true), cli.WithResolvedPaths(true))
	po, err := cli.NewProjectOptions([]string{flag.Arg(0)}, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "composecheck:", err)
		os.Exit(1)
	}
	project, err := po.LoadProject(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "composecheck:", err)
		os.Exit(1)
	}
	out, err := project.MarshalJSON()
	if err != nil {
		fmt.Fprintln(os.Stderr, "composecheck:", err)
		os.Exit(1)
	}
	fmt.Println(string(out))
}
