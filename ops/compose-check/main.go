// Command compose-check validates docker-compose.yml the way `docker compose config` does (compose-go, the
// loader Docker Compose itself uses) and checks that the versions it and its Dockerfiles deploy equal the
// pins of scripts/services.sh. scripts/lint-ops.sh runs it; it needs no Docker engine.
//
//	compose-check validate -root DIR [-compose FILE] [-env-file FILE]
//	compose-check pins     -root DIR [-compose FILE] [-env-file FILE] [-services FILE] [-cargo FILE] [-mariadb-series X.Y]
//	compose-check jenkins  -root DIR [-compose FILE] [-env-file FILE] [-jenkinsfile FILE] [-casc FILE] [-controller DIR]
//
// jenkins asserts statically where builds run and where they can reach secrets (see checkJenkins).
//
// It prints one line on success; on failure each problem on its own line on stderr, and exits 1 (2 when
// it could not run the check at all).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// problems collects every finding of a check, so that one run reports all of them.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// usageError is a mistake in how the command was called or a file it could not read (exit 2).
type usageError struct{ error }

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: compose-check validate|pins|jenkins -root DIR [flags]")
		return 2
	}
	cmd := args[0]
	fs := flag.NewFlagSet("compose-check "+cmd, flag.ContinueOnError)
	root := fs.String("root", ".", "repository root; other paths are relative to it")
	compose := fs.String("compose", "docker-compose.yml", "the compose file")
	envFile := fs.String("env-file", ".env.example", "env file used for interpolation (the host environment is ignored)")
	services := fs.String("services", "scripts/services.sh", "the script whose pins are the reference")
	cargo := fs.String("cargo", "Cargo.toml", "workspace manifest holding rust-version")
	jenkinsfile := fs.String("jenkinsfile", "Jenkinsfile", "the declarative pipeline")
	casc := fs.String("casc", "ops/jenkins/casc.yaml", "Jenkins configuration as code")
	controller := fs.String("controller", "ops/jenkins", "build context of the Jenkins controller image")
	mariadbSeries := fs.String("mariadb-series", "", "MariaDB major.minor that services.sh runs here (empty: not compared)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	rootAbs, err := filepath.Abs(*root)
	if err != nil {
		fmt.Fprintf(os.Stderr, "compose-check: %v\n", err)
		return 2
	}
	*root = rootAbs
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(*root, p)
	}
	in := inputs{root: *root, compose: abs(*compose), envFile: abs(*envFile)}

	var summary string
	var found problems
	switch cmd {
	case "validate":
		summary, found, err = validate(in)
	case "pins":
		summary, found, err = checkPins(in, abs(*services), abs(*cargo), strings.TrimSpace(*mariadbSeries))
	case "jenkins":
		summary, found, err = checkJenkins(jenkinsInputs{inputs: in, jenkinsfile: abs(*jenkinsfile),
			casc: abs(*casc), controllerDir: abs(*controller)})
	default:
		err = usageError{fmt.Errorf("unknown command %q (expected validate, pins or jenkins)", cmd)}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "compose-check %s: %v\n", cmd, err)
		var u usageError
		if errors.As(err, &u) {
			return 2
		}
		return 1
	}
	if len(found) > 0 {
		for _, p := range found {
			fmt.Fprintf(os.Stderr, "compose-check %s: %s\n", cmd, p)
		}
		return 1
	}
	fmt.Println(summary)
	return 0
}

// inputs are the files both checks read.
type inputs struct {
	root, compose, envFile string
}

// rel shows a path relative to the repository root in messages.
func (in inputs) rel(p string) string {
	if r, err := filepath.Rel(in.root, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}
