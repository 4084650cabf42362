package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/distribution/reference"
)

// pin is one version scripts/services.sh fixes, and how the deployment carries it: a Dockerfile ARG of
// one of the built images, and the literal form it would take if someone wrote it out elsewhere.
type pin struct {
	what    string
	shVar   string                 // HM_… default in services.sh
	arg     string                 // Dockerfile ARG
	literal *regexp.Regexp         // group 1: a version written out literally
	deploy  func(sh string) string // services.sh value → the deployed form
}

var pins = []pin{
	{"seaweedfs", "HM_SEAWEEDFS_VERSION", "SEAWEEDFS_VERSION",
		regexp.MustCompile(`seaweedfs/seaweedfs@(v[0-9][^\s"'/\\]*)`), same},
	{"mlflow", "HM_MLFLOW_VERSION", "MLFLOW_VERSION", pipPin("mlflow"), same},
	{"pymysql", "HM_PYMYSQL_VERSION", "PYMYSQL_VERSION", pipPin("pymysql"), same},
	{"boto3", "HM_BOTO3_VERSION", "BOTO3_VERSION", pipPin("boto3"), same},
	{"requests", "HM_REQUESTS_VERSION", "REQUESTS_VERSION", pipPin("requests"), same},
	{"python", "HM_PYTHON", "PYTHON_VERSION", regexp.MustCompile(`\bpython:([0-9]+\.[0-9]+)`),
		func(sh string) string { return strings.TrimPrefix(sh, "python") }},
}

func same(s string) string { return s }

func pipPin(name string) *regexp.Regexp {
	// Optional extras, e.g. mlflow[auth]==3.17.2.
	return regexp.MustCompile(`(?i)(?:^|[\s"'])` + name + `(?:\[[^\]\s]*\])?==([0-9][^\s"'\\]*)`)
}

// shDefault matches `NAME="${HM_VAR:-default}"` in services.sh.
var shDefault = regexp.MustCompile(`(?m)^\s*[A-Za-z_][A-Za-z0-9_]*="\$\{(HM_[A-Z0-9_]+):-([^}]*)\}"`)

// cargoRustVersion matches the workspace's rust-version.
var cargoRustVersion = regexp.MustCompile(`(?m)^\s*rust-version\s*=\s*"([0-9.]+)"`)

// checkPins compares every version the compose deployment builds or pulls with scripts/services.sh.
func checkPins(in inputs, servicesPath, cargoPath, mariadbSeries string) (string, problems, error) {
	project, err := loadProject(in)
	if err != nil {
		return "", nil, err
	}
	shText, err := os.ReadFile(servicesPath)
	if err != nil {
		return "", nil, usageError{err}
	}
	sh := map[string]string{}
	for _, m := range shDefault.FindAllStringSubmatch(string(shText), -1) {
		sh[m[1]] = m[2]
	}
	env, err := dotenv.GetEnvFromFile(map[string]string{}, []string{in.envFile})
	if err != nil {
		return "", nil, usageError{fmt.Errorf("reading %s: %w", in.rel(in.envFile), err)}
	}
	built, err := builtImages(project)
	if err != nil {
		return "", nil, err
	}

	var found problems
	var matched []string
	for _, p := range pins {
		shValue, ok := sh[p.shVar]
		if !ok {
			found.add("%s no longer sets %s=\"${%s:-…}\"; update the pin table of ops/compose-check",
				in.rel(servicesPath), p.shVar, p.shVar)
			continue
		}
		want := p.deploy(shValue)
		seen := 0
		for _, b := range built {
			value, declared := b.df.args[p.arg]
			if !declared {
				continue
			}
			seen++
			where := fmt.Sprintf("%s (service %s)", in.rel(b.df.path), b.service)
			if override, ok := b.buildArgs[p.arg]; ok {
				value, where = override, fmt.Sprintf("%s build.args of service %s", in.rel(in.compose), b.service)
			}
			if value != want {
				found.add("%s: %s %s=%q, but %s pins %s=%q", p.what, where, p.arg, value,
					in.rel(servicesPath), p.shVar, shValue)
			}
			if !b.df.uses(p.arg) {
				found.add("%s: %s declares ARG %s but never uses it", p.what, in.rel(b.df.path), p.arg)
			}
		}
		if seen == 0 {
			found.add("%s: no Dockerfile built by %s declares ARG %s (services.sh pins %s=%q)",
				p.what, in.rel(in.compose), p.arg, p.shVar, shValue)
		}
		for _, key := range []string{p.arg, p.shVar} {
			if v, ok := env[key]; ok && p.deploy(v) != want && v != shValue {
				found.add("%s: %s sets %s=%q, but %s pins %s=%q", p.what, in.rel(in.envFile), key, v,
					in.rel(servicesPath), p.shVar, shValue)
			}
		}
		literalFiles := []string{in.compose, in.envFile}
		for _, b := range built {
			literalFiles = append(literalFiles, b.contextFiles...)
		}
		for _, f := range literalFiles {
			data, err := os.ReadFile(f)
			if err != nil {
				return "", nil, usageError{err}
			}
			for _, m := range p.literal.FindAllStringSubmatch(string(data), -1) {
				if m[1] != want {
					found.add("%s: %s names version %q, but %s pins %s=%q", p.what, in.rel(f), m[1],
						in.rel(servicesPath), p.shVar, shValue)
				}
			}
		}
		matched = append(matched, fmt.Sprintf("%s %s", p.what, want))
	}

	mariadb, err := checkMariaDB(project, mariadbSeries, &found)
	if err != nil {
		return "", nil, err
	}
	matched = append(matched, mariadb)
	rust, err := checkRust(in, built, cargoPath, &found)
	if err != nil {
		return "", nil, err
	}
	matched = append(matched, rust)

	summary := fmt.Sprintf("pins: %s and its Dockerfiles match %s (%s)", in.rel(in.compose),
		in.rel(servicesPath), strings.Join(matched, ", "))
	return summary, found, nil
}

// builtImage is a service built from a Dockerfile, with the build args compose passes to it.
type builtImage struct {
	service      string
	df           dockerfile
	buildArgs    map[string]string
	contextFiles []string // every regular file of the build context, for the literal scan
}

func builtImages(project *types.Project) ([]builtImage, error) {
	names := project.ServiceNames()
	sort.Strings(names)
	var out []builtImage
	for _, name := range names {
		s := project.Services[name]
		if s.Build == nil {
			continue
		}
		dfName := s.Build.Dockerfile
		if dfName == "" {
			dfName = "Dockerfile"
		}
		dfPath := dfName
		if !filepath.IsAbs(dfPath) {
			dfPath = filepath.Join(s.Build.Context, dfName)
		}
		data, err := os.ReadFile(dfPath)
		if err != nil {
			return nil, fmt.Errorf("service %s: reading its Dockerfile: %w", name, err)
		}
		b := builtImage{service: name, df: parseDockerfile(dfPath, data), buildArgs: map[string]string{}}
		for k, v := range s.Build.Args {
			if v != nil {
				b.buildArgs[k] = *v
			}
		}
		err = filepath.WalkDir(s.Build.Context, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				b.contextFiles = append(b.contextFiles, path)
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("service %s: listing its build context: %w", name, err)
		}
		out = append(out, b)
	}
	return out, nil
}

// checkMariaDB compares the major.minor of the pulled MariaDB image with the series services.sh runs here
// (Debian's mariadb-server, which has no version variable: scripts/lint-ops.sh asks the system).
func checkMariaDB(project *types.Project, series string, found *problems) (string, error) {
	var tags []string
	for _, name := range project.ServiceNames() {
		s := project.Services[name]
		if s.Build != nil || s.Image == "" {
			continue
		}
		ref, err := reference.ParseNormalizedNamed(s.Image)
		if err != nil {
			found.add("service %s: image %q is not a valid reference: %v", name, s.Image, err)
			continue
		}
		if reference.FamiliarName(ref) != "mariadb" {
			continue
		}
		tagged, ok := ref.(reference.Tagged)
		if !ok {
			found.add("service %s: image %q has no version tag; pin mariadb:MAJOR.MINOR", name, s.Image)
			continue
		}
		tag := tagged.Tag()
		tags = append(tags, tag)
		if got := majorMinor(tag); got == "" {
			found.add("service %s: image tag %q does not start with MAJOR.MINOR", name, tag)
		} else if series != "" && got != series {
			found.add("mariadb: service %s runs mariadb:%s, but services.sh runs MariaDB %s here", name, tag, series)
		}
	}
	if len(tags) == 0 {
		found.add("mariadb: no service runs a mariadb:MAJOR.MINOR image (services.sh runs MariaDB %s)", series)
	}
	if series == "" {
		return "mariadb " + strings.Join(tags, "/") + " (not compared: no local MariaDB)", nil
	}
	return "mariadb " + series, nil
}

// checkRust requires the Jenkins image's toolchain to be at least the workspace's rust-version.
func checkRust(in inputs, built []builtImage, cargoPath string, found *problems) (string, error) {
	data, err := os.ReadFile(cargoPath)
	if err != nil {
		return "", usageError{err}
	}
	m := cargoRustVersion.FindSubmatch(data)
	if m == nil {
		return "rust (no rust-version in " + in.rel(cargoPath) + ")", nil
	}
	msrv := string(m[1])
	var seen []string
	for _, b := range built {
		v, ok := b.df.args["RUST_VERSION"]
		if !ok {
			continue
		}
		if override, ok := b.buildArgs["RUST_VERSION"]; ok {
			v = override
		}
		seen = append(seen, v)
		if compareVersions(v, msrv) < 0 {
			found.add("rust: %s builds with Rust %s, older than rust-version %s of %s",
				in.rel(b.df.path), v, msrv, in.rel(cargoPath))
		}
	}
	if len(seen) == 0 {
		found.add("rust: no Dockerfile built by %s declares ARG RUST_VERSION (the Jenkins image needs Rust >= %s)",
			in.rel(in.compose), msrv)
	}
	return fmt.Sprintf("rust %s >= %s", strings.Join(seen, "/"), msrv), nil
}

func majorMinor(v string) string {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return ""
	}
	for _, p := range parts[:2] {
		if _, err := strconv.Atoi(p); err != nil {
			return ""
		}
	}
	return parts[0] + "." + parts[1]
}

// compareVersions compares dotted numeric versions (missing parts count as 0; a non-number as -1).
func compareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) || i < len(pb); i++ {
		x, y := versionPart(pa, i), versionPart(pb, i)
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

func versionPart(parts []string, i int) int {
	if i >= len(parts) {
		return 0
	}
	n, err := strconv.Atoi(parts[i])
	if err != nil {
		return -1
	}
	return n
}
