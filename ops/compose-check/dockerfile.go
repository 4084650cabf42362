package main

import (
	"bufio"
	"bytes"
	"regexp"
	"strings"
)

// dockerfile is what the pin check needs from a Dockerfile: its ARG defaults, the base images of its FROM
// lines (ARG references left unexpanded) and its text.
type dockerfile struct {
	path  string
	args  map[string]string // ARG NAME=default; an ARG without a default maps to ""
	froms []string
	text  string
}

// parseDockerfile reads ARG and FROM instructions; line continuations are joined, comments dropped.
func parseDockerfile(path string, data []byte) dockerfile {
	d := dockerfile{path: path, args: map[string]string{}, text: string(data)}
	for _, line := range logicalLines(data) {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "ARG":
			for _, f := range fields[1:] {
				name, value, _ := strings.Cut(f, "=")
				d.args[name] = strings.Trim(value, `"'`)
			}
		case "FROM":
			for _, f := range fields[1:] {
				if !strings.HasPrefix(f, "--") { // skip --platform=...
					d.froms = append(d.froms, f)
					break
				}
			}
		}
	}
	return d
}

func logicalLines(data []byte) []string {
	var out []string
	var cur strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		cur.WriteString(line)
		out = append(out, cur.String())
		cur.Reset()
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// uses reports whether the Dockerfile references the ARG after declaring it ($NAME or ${NAME}).
func (d dockerfile) uses(name string) bool {
	re := regexp.MustCompile(`\$(\{` + regexp.QuoteMeta(name) + `[}:]|` + regexp.QuoteMeta(name) + `\b)`)
	return re.MatchString(d.text)
}
