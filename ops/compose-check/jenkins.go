package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v4"
)

// jenkinsInputs are the files the Jenkins check reads, besides the compose project.
type jenkinsInputs struct {
	inputs
	jenkinsfile, casc, controllerDir string
}

// checkJenkins asserts, from the files alone (Jenkins does not run here), where a build can reach a secret:
//
//   - the controller has zero executors, and casc.yaml declares the agents, each a service of the compose
//     file that gets no secret of its own (no compose secret, no secret-looking environment variable);
//   - the Jenkinsfile has no top-level agent (`agent none`) and every stage runs on a declared agent label;
//   - withCredentials appears only on agents that never build (no checkout, setup.sh or cargo in any of
//     their stages), after the build stage, around exactly one `sh` step that itself builds nothing;
//   - no credentials() in an environment block (that would expose it to every stage);
//   - the files hm-jenkins-entrypoint.sh writes for configuration as code are deleted once it has loaded
//     them: the controller image installs an init.groovy.d script that deletes the $SECRETS folder's files.
func checkJenkins(in jenkinsInputs) (string, problems, error) {
	project, err := loadProject(in.inputs)
	if err != nil {
		return "", nil, err
	}
	var found problems
	cascRaw, err := os.ReadFile(in.casc)
	if err != nil {
		return "", nil, usageError{err}
	}
	agents, err := checkCasc(in, cascRaw, &found)
	if err != nil {
		return "", nil, err
	}
	for _, a := range agents {
		s, ok := project.Services[a.host]
		if !ok {
			found.add("%s: agent %s is started on host %q, which is not a service of %s", in.rel(in.casc), a.name,
				a.host, in.rel(in.compose))
			continue
		}
		if len(s.Secrets) > 0 {
			found.add("%s: agent service %s mounts compose secrets; agents must hold none (builds run there)",
				in.rel(in.compose), a.host)
		}
		keys := make([]string, 0, len(s.Environment))
		for k := range s.Environment {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if secretName.MatchString(k) {
				found.add("%s: agent service %s gets the secret-looking variable %s; agents must hold no secret",
					in.rel(in.compose), a.host, k)
			}
		}
	}
	jf, err := os.ReadFile(in.jenkinsfile)
	if err != nil {
		return "", nil, usageError{err}
	}
	labels := map[string]bool{}
	for _, a := range agents {
		for _, l := range strings.Fields(a.labels) {
			labels[l] = true
		}
	}
	stages := checkJenkinsfile(in.rel(in.jenkinsfile), string(jf), labels, &found)
	if err := checkSecretFilesRemoved(in, &found); err != nil {
		return "", nil, err
	}
	names := make([]string, 0, len(agents))
	for _, a := range agents {
		names = append(names, a.name)
	}
	summary := fmt.Sprintf("jenkins: controller with 0 executors, agents %s; %d stages on agents, credentials "+
		"only outside the build; casc secret files deleted after loading", strings.Join(names, ", "), stages)
	return summary, found, nil
}

// agent is one node of casc.yaml.
type agent struct {
	name, labels, host string
	executors          int
}

func checkCasc(in jenkinsInputs, raw []byte, found *problems) ([]agent, error) {
	var doc struct {
		Jenkins struct {
			NumExecutors *int `yaml:"numExecutors"`
			Nodes        []struct {
				Permanent *struct {
					Name         string `yaml:"name"`
					LabelString  string `yaml:"labelString"`
					NumExecutors int    `yaml:"numExecutors"`
					Launcher     struct {
						SSH *struct {
							Host string `yaml:"host"`
						} `yaml:"ssh"`
					} `yaml:"launcher"`
				} `yaml:"permanent"`
			} `yaml:"nodes"`
		} `yaml:"jenkins"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: parsing YAML: %w", in.rel(in.casc), err)
	}
	casc := in.rel(in.casc)
	switch {
	case doc.Jenkins.NumExecutors == nil:
		found.add("%s: jenkins.numExecutors is not set (the default, 2, runs builds on the controller); set 0", casc)
	case *doc.Jenkins.NumExecutors != 0:
		found.add("%s: jenkins.numExecutors is %d: builds would run on the controller, next to JENKINS_HOME and "+
			"the secrets; set 0 and run them on agents", casc, *doc.Jenkins.NumExecutors)
	}
	var agents []agent
	for i, n := range doc.Jenkins.Nodes {
		p := n.Permanent
		if p == nil {
			found.add("%s: jenkins.nodes[%d] is not a permanent agent", casc, i)
			continue
		}
		a := agent{name: p.Name, labels: p.LabelString, executors: p.NumExecutors}
		if p.Launcher.SSH != nil {
			a.host = p.Launcher.SSH.Host
		}
		if a.host == "" {
			found.add("%s: agent %q has no ssh launcher host (a compose service)", casc, p.Name)
		}
		if strings.TrimSpace(a.labels) == "" {
			found.add("%s: agent %q has no labelString; the Jenkinsfile selects agents by label", casc, p.Name)
		}
		if a.executors < 1 {
			found.add("%s: agent %q has no executor", casc, p.Name)
		}
		agents = append(agents, a)
	}
	if len(agents) == 0 {
		found.add("%s: jenkins.nodes declares no agent: with a controller of 0 executors nothing can build", casc)
	}
	return agents, nil
}

// groovyMask returns the text with the contents of string literals and comments replaced by spaces
// (quotes and newlines kept), so that braces and keywords are found in code only, at the same offsets.
func groovyMask(src string) string { return mask(src, true) }

// shellCode is the text without Groovy comments and without the comment lines of the shell scripts in its
// strings: what runs, at the same offsets.
func shellCode(src string) string {
	code := mask(src, false)
	return shellComment.ReplaceAllStringFunc(code, func(c string) string { return strings.Repeat(" ", len(c)) })
}

var shellComment = regexp.MustCompile(`(?m)^[ \t]*#[^\n]*`)

func mask(src string, strs bool) string {
	b := []byte(src)
	out := make([]byte, len(b))
	copy(out, b)
	blank := func(from, to int) {
		for k := from; k < to && k < len(out); k++ {
			if out[k] != '\n' {
				out[k] = ' '
			}
		}
	}
	for i := 0; i < len(b); {
		switch {
		case strings.HasPrefix(src[i:], "//"):
			end := strings.IndexByte(src[i:], '\n')
			if end < 0 {
				end = len(src) - i
			}
			blank(i, i+end)
			i += end
		case strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				end = len(src) - i - 2
			}
			blank(i, i+2+end+2)
			i += 2 + end + 2
		case strings.HasPrefix(src[i:], "'''") || strings.HasPrefix(src[i:], `"""`):
			q := src[i : i+3]
			end := strings.Index(src[i+3:], q)
			if end < 0 {
				end = len(src) - i - 3
			}
			if strs {
				blank(i+3, i+3+end)
			}
			i += 3 + end + 3
		case b[i] == '\'' || b[i] == '"':
			j := i + 1
			for j < len(b) && b[j] != b[i] && b[j] != '\n' {
				if b[j] == '\\' {
					j++
				}
				j++
			}
			if strs {
				blank(i+1, j)
			}
			i = j + 1
		default:
			i++
		}
	}
	return string(out)
}

// matching returns the offset of the brace closing the one at open, or -1.
func matching(masked string, open int) int {
	depth := 0
	for i := open; i < len(masked); i++ {
		switch masked[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

type jstage struct {
	name                string
	start, body, end    int // `stage` keyword, its `{`, its `}`
	parent              *jstage
	label               string // own `agent { label '…' }`, "" if none
	hasSteps, builds    bool
	credentialed, order int
}

var (
	stageRe      = regexp.MustCompile(`\bstage\s*\(\s*'`)
	agentRe      = regexp.MustCompile(`\bagent\s+(\w+|\{)`)
	agentLabelRe = regexp.MustCompile(`^\{\s*label\s*\(?\s*'`)
	stepsRe      = regexp.MustCompile(`\bsteps\s*\{`)
	withCredsRe  = regexp.MustCompile(`\bwithCredentials\s*\(`)
	shStepRe     = regexp.MustCompile(`\b(sh|bat|powershell)\s*[('"]`)
	envBlockRe   = regexp.MustCompile(`\benvironment\s*\{`)
	credsCallRe  = regexp.MustCompile(`\bcredentials\s*\(`)
	// What runs the repository's code or third-party build code.
	buildRe = regexp.MustCompile(`\bcargo\s|scripts/setup\.sh|\bcheckout\s*\(?\s*scm|\bmake\b|\bnpm\s|\bgradle`)
)

// quoted returns the single-quoted string starting at src[at] == '\”.
func quoted(src string, at int) string {
	end := strings.IndexByte(src[at+1:], '\'')
	if end < 0 {
		return ""
	}
	return src[at+1 : at+1+end]
}

// checkJenkinsfile checks where the declarative pipeline runs its stages and uses credentials; it returns
// the number of stages with steps.
func checkJenkinsfile(name, src string, labels map[string]bool, found *problems) int {
	m := groovyMask(src)
	code := shellCode(src)
	var stages []*jstage
	for _, loc := range stageRe.FindAllStringIndex(m, -1) {
		st := &jstage{name: quoted(src, loc[1]-1), start: loc[0]}
		st.body = strings.IndexByte(m[loc[1]:], '{')
		if st.body < 0 {
			continue
		}
		st.body += loc[1]
		st.end = matching(m, st.body)
		if st.end < 0 {
			found.add("%s: stage '%s' has no closing brace", name, st.name)
			continue
		}
		st.order = len(stages)
		stages = append(stages, st)
	}
	innermost := func(pos int) *jstage {
		var best *jstage
		for _, st := range stages {
			if st.body < pos && pos < st.end && (best == nil || st.body > best.body) {
				best = st
			}
		}
		return best
	}
	for _, st := range stages {
		st.parent = innermost(st.start)
	}
	// Everything found in the code is attributed to the innermost stage around it.
	topLevel := false
	for _, loc := range agentRe.FindAllStringSubmatchIndex(m, -1) {
		st := innermost(loc[0])
		word := m[loc[2]:loc[3]]
		if st == nil {
			topLevel = true
			if word != "none" {
				found.add("%s: the pipeline's top-level agent is `agent %s`: stages without an agent of their "+
					"own run wherever Jenkins finds an executor; use `agent none` and give each stage its agent",
					name, word)
			}
			continue
		}
		if word != "{" {
			found.add("%s: stage '%s' has `agent %s`; name an agent by label", name, st.name, word)
			continue
		}
		if lm := agentLabelRe.FindStringIndex(m[loc[2]:]); lm != nil {
			st.label = quoted(src, loc[2]+lm[1]-1)
		} else {
			found.add("%s: stage '%s' selects its agent other than by `label '…'`", name, st.name)
		}
	}
	if !topLevel {
		found.add("%s: no top-level `agent none`", name)
	}
	for _, loc := range stepsRe.FindAllStringIndex(m, -1) {
		if st := innermost(loc[0]); st != nil {
			st.hasSteps = true
		}
	}
	for _, loc := range buildRe.FindAllStringIndex(code, -1) {
		if st := innermost(loc[0]); st != nil {
			st.builds = true
		}
	}
	labelOf := func(st *jstage) string {
		for s := st; s != nil; s = s.parent {
			if s.label != "" {
				return s.label
			}
		}
		return ""
	}
	buildLabels := map[string]string{}
	firstBuild := -1
	count := 0
	for _, st := range stages {
		if !st.hasSteps {
			continue
		}
		count++
		l := labelOf(st)
		switch {
		case l == "":
			found.add("%s: stage '%s' runs on no agent of its own (with `agent none` it cannot run, "+
				"with another top-level agent it runs anywhere)", name, st.name)
		case !labels[l]:
			found.add("%s: stage '%s' runs on label '%s', which no agent of casc.yaml has", name, st.name, l)
		}
		if st.builds {
			buildLabels[l] = st.name
			if firstBuild < 0 {
				firstBuild = st.order
			}
		}
	}
	for _, loc := range withCredsRe.FindAllStringIndex(m, -1) {
		st := innermost(loc[0])
		if st == nil {
			found.add("%s: withCredentials outside any stage", name)
			continue
		}
		l := labelOf(st)
		if b, ok := buildLabels[l]; ok || l == "" {
			found.add("%s: stage '%s' uses withCredentials on the agent that builds (stage '%s', label '%s'): "+
				"code run by the build can wait there for the secrets", name, st.name, b, l)
		}
		if firstBuild < 0 || st.order < firstBuild {
			found.add("%s: stage '%s' uses withCredentials before the build stage", name, st.name)
		}
		open := strings.IndexByte(m[loc[1]:], '{')
		if open < 0 {
			found.add("%s: stage '%s': withCredentials without a block", name, st.name)
			continue
		}
		open += loc[1]
		end := matching(m, open)
		if end < 0 {
			continue
		}
		if n := len(shStepRe.FindAllStringIndex(m[open:end], -1)); n != 1 {
			found.add("%s: stage '%s': withCredentials wraps %d shell steps; wrap exactly the one that "+
				"needs the secrets", name, st.name, n)
		}
		if buildRe.MatchString(code[open:end]) {
			found.add("%s: stage '%s': withCredentials wraps a build or checkout step", name, st.name)
		}
	}
	for _, loc := range envBlockRe.FindAllStringIndex(m, -1) {
		end := matching(m, loc[1]-1)
		if end > 0 && credsCallRe.MatchString(m[loc[1]:end]) {
			found.add("%s: credentials() in an environment block exposes the secret to every step; "+
				"use withCredentials around the one step that needs it", name)
		}
	}
	return count
}

// checkSecretFilesRemoved: the controller image installs an init.groovy.d script (run after configuration
// as code has loaded) that deletes the files of the $SECRETS folder the entry point wrote.
func checkSecretFilesRemoved(in jenkinsInputs, found *problems) error {
	dir := in.controllerDir
	df, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	if err != nil {
		return usageError{err}
	}
	copyRe := regexp.MustCompile(`(?m)^COPY\s+(?:--\S+\s+)*(\S+)\s+/usr/share/jenkins/ref/init\.groovy\.d/\S*`)
	deletes := regexp.MustCompile(`\.delete\(|Files\.delete\(|deleteDir\(`)
	ok := false
	for _, c := range copyRe.FindAllStringSubmatch(string(df), -1) {
		script, err := os.ReadFile(filepath.Join(dir, c[1]))
		if err != nil {
			found.add("%s: COPY %s: %v", in.rel(filepath.Join(dir, "Dockerfile")), c[1], err)
			continue
		}
		if strings.Contains(string(script), "SECRETS") && deletes.Match(groovyCode(script)) {
			ok = true
		}
	}
	if !ok {
		found.add("%s: no init.groovy.d script deletes the $SECRETS files after configuration as code has "+
			"loaded them: they stay readable on the controller", in.rel(filepath.Join(dir, "Dockerfile")))
	}
	return nil
}

// groovyCode is the script without comments (strings blanked too), so a comment cannot satisfy a check.
func groovyCode(src []byte) []byte { return []byte(groovyMask(string(src))) }
