package main

import (
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"
)

// validate checks the compose file against the compose specification, then the deployment rules of this
// project: health checks everywhere, start order on health, loopback ports, data in named volumes, and no
// secret written in docker-compose.yml or .env.example.
func validate(in inputs) (string, problems, error) {
	project, err := loadProject(in)
	if err != nil {
		return "", nil, err
	}
	var found problems
	names := project.ServiceNames()
	sort.Strings(names)
	for _, name := range names {
		checkService(project, project.Services[name], &found)
		if err := checkRefusesPlaceholders(project.Services[name], &found); err != nil {
			return "", nil, err
		}
	}
	raw, err := os.ReadFile(in.compose)
	if err != nil {
		return "", nil, usageError{err}
	}
	if err := checkNoSecretLiterals(raw, &found); err != nil {
		return "", nil, err
	}
	if err := checkEnvPlaceholders(in, &found); err != nil {
		return "", nil, err
	}
	summary := fmt.Sprintf("compose: %s valid with %s (%d services: %s)",
		in.rel(in.compose), in.rel(in.envFile), len(names), strings.Join(names, ", "))
	return summary, found, nil
}

func checkService(project *types.Project, s types.ServiceConfig, found *problems) {
	if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0 {
		found.add("service %s has no healthcheck (every service needs one: others wait on it)", s.Name)
	}
	deps := make([]string, 0, len(s.DependsOn))
	for dep := range s.DependsOn {
		deps = append(deps, dep)
	}
	sort.Strings(deps)
	for _, dep := range deps {
		cond := s.DependsOn[dep].Condition
		if cond != types.ServiceConditionHealthy && cond != types.ServiceConditionCompletedSuccessfully {
			found.add("service %s depends on %s with condition %q; expected %q", s.Name, dep, cond,
				types.ServiceConditionHealthy)
		}
	}
	for _, p := range s.Ports {
		if p.Published == "" {
			continue
		}
		ip := net.ParseIP(p.HostIP)
		if ip == nil || !ip.IsLoopback() {
			found.add("service %s publishes port %s on %q; expected a loopback address by default "+
				"(127.0.0.1:%s:%d)", s.Name, p.Published, p.HostIP, p.Published, p.Target)
		}
	}
	for _, v := range s.Volumes {
		switch v.Type {
		case types.VolumeTypeVolume:
			if v.Source == "" {
				found.add("service %s mounts an anonymous volume at %s; use a named volume", s.Name, v.Target)
			} else if _, ok := project.Volumes[v.Source]; !ok {
				found.add("service %s mounts volume %q, which is not declared under volumes:", s.Name, v.Source)
			}
		case types.VolumeTypeBind:
			found.add("service %s bind-mounts %s at %s; keep data in named volumes and secrets under secrets:",
				s.Name, v.Source, v.Target)
		}
	}
}

// checkRefusesPlaceholders: a service that gets a secret must refuse to start while it still holds the
// "change-me" placeholder of .env.example, so its entry point must say so: an inline entrypoint, or a file
// of the image's build context, that tests for "change-me".
func checkRefusesPlaceholders(s types.ServiceConfig, found *problems) error {
	var secrets []string
	for k := range s.Environment {
		// An access key id names an identity; its secret key (…SECRET_ACCESS_KEY) is the secret.
		identifier := (strings.HasSuffix(k, "ACCESS_KEY") || strings.HasSuffix(k, "ACCESS_KEY_ID")) &&
			!strings.Contains(k, "SECRET")
		if secretName.MatchString(k) && !identifier {
			secrets = append(secrets, k)
		}
	}
	if len(secrets) == 0 {
		return nil
	}
	sort.Strings(secrets)
	if strings.Contains(strings.Join(s.Entrypoint, " "), "change-me") {
		return nil
	}
	if s.Build != nil {
		refuses := false
		err := filepath.WalkDir(s.Build.Context, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() || refuses {
				return err
			}
			data, err := os.ReadFile(path)
			if err == nil && strings.Contains(string(data), "change-me") {
				refuses = true
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("service %s: reading its build context: %w", s.Name, err)
		}
		if refuses {
			return nil
		}
	}
	found.add("service %s gets %s but nothing in its entry point refuses the \"change-me\" placeholders of "+
		".env.example: it would start with them", s.Name, strings.Join(secrets, ", "))
	return nil
}

// secretName matches variable names that hold secrets.
var secretName = regexp.MustCompile(`(?i)(PASSWORD|SECRET|TOKEN|ACCESS_KEY|PRIVATE_KEY)`)

// interpolationOnly matches a value that is a single ${VAR...} reference with no literal default.
var interpolationOnly = regexp.MustCompile(`^\$\{[A-Za-z_][A-Za-z0-9_]*(:?\?[^}]*|:?-)?\}$`)

// checkNoSecretLiterals reads the compose file as written (before interpolation): a secret-looking
// environment variable must take its value from .env, with no default.
func checkNoSecretLiterals(raw []byte, found *problems) error {
	var doc struct {
		Services map[string]struct {
			Environment any `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("parsing YAML: %w", err)
	}
	names := make([]string, 0, len(doc.Services))
	for n := range doc.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, svc := range names {
		env := map[string]string{}
		switch e := doc.Services[svc].Environment.(type) {
		case map[string]any:
			for k, v := range e {
				env[k] = fmt.Sprint(v)
			}
		case []any:
			for _, item := range e {
				k, v, _ := strings.Cut(fmt.Sprint(item), "=")
				env[k] = v
			}
		}
		keys := make([]string, 0, len(env))
		for k := range env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if secretName.MatchString(k) && !interpolationOnly.MatchString(env[k]) {
				found.add("service %s sets %s to a literal or a default in docker-compose.yml; "+
					"take it from .env as ${NAME:?...} (value not shown)", svc, k)
			}
		}
	}
	return nil
}

// checkEnvPlaceholders keeps real secrets out of the committed example: every secret-looking variable of
// the env file must hold a "change-me" placeholder.
func checkEnvPlaceholders(in inputs, found *problems) error {
	env, err := dotenv.GetEnvFromFile(map[string]string{}, []string{in.envFile})
	if err != nil {
		return usageError{fmt.Errorf("reading %s: %w", in.rel(in.envFile), err)}
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		// An S3 access key id names an identity, like a user name; its secret key is the secret.
		identifier := strings.HasSuffix(k, "ACCESS_KEY") || strings.HasSuffix(k, "ACCESS_KEY_ID")
		if secretName.MatchString(k) && !identifier && !strings.HasPrefix(env[k], "change-me") {
			found.add("%s: %s must be a placeholder starting with \"change-me\" (value not shown)",
				in.rel(in.envFile), k)
		}
	}
	return nil
}
