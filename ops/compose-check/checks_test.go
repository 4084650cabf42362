package main

import (
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

func TestDockerfileArgsAreReadAcrossContinuationsAndStages(t *testing.T) {
	d := parseDockerfile("Dockerfile", []byte(`# syntax=docker/dockerfile:1
ARG GO_VERSION=1.26.8
FROM --platform=linux/amd64 golang:${GO_VERSION} AS build
ARG A=1 B="two" \
    C
# ARG COMMENTED=9
RUN echo ${A} $B
FROM debian:bookworm-slim
`))
	want := map[string]string{"GO_VERSION": "1.26.8", "A": "1", "B": "two", "C": ""}
	if len(d.args) != len(want) {
		t.Fatalf("args = %v, want %v", d.args, want)
	}
	for k, v := range want {
		if d.args[k] != v {
			t.Errorf("ARG %s = %q, want %q", k, d.args[k], v)
		}
	}
	if len(d.froms) != 2 || d.froms[0] != "golang:${GO_VERSION}" || d.froms[1] != "debian:bookworm-slim" {
		t.Errorf("froms = %v", d.froms)
	}
	if !d.uses("A") || !d.uses("B") || d.uses("C") {
		t.Errorf("uses: A=%v B=%v C=%v, want true true false", d.uses("A"), d.uses("B"), d.uses("C"))
	}
}

func TestServicesShDefaultsAreFoundWhateverTheShellVariable(t *testing.T) {
	text := `HM_MLFLOW_VERSION="${HM_MLFLOW_VERSION:-3.17.2}"
PYTHON="${HM_PYTHON:-python3.11}"
  HM_SEAWEEDFS_VERSION="${HM_SEAWEEDFS_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}"
echo "HM_BOTO3_VERSION=${HM_BOTO3_VERSION:-0}"`
	got := map[string]string{}
	for _, m := range shDefault.FindAllStringSubmatch(text, -1) {
		got[m[1]] = m[2]
	}
	want := map[string]string{"HM_MLFLOW_VERSION": "3.17.2", "HM_PYTHON": "python3.11",
		"HM_SEAWEEDFS_VERSION": "v0.0.0-20261109003541-7506e5f91cd6"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestPipPinsAreFoundButNotInsideOtherNames(t *testing.T) {
	re := pipPin("mlflow")
	for text, want := range map[string]string{
		`pip install "mlflow==3.17.2"`:  "3.17.2",
		`pip install mlflow==3.1.0 x`:   "3.1.0",
		`pip install mlflow-skinny==1`:  "",
		`pip install "mlflow==${V}"`:    "",
		`"mlflow[auth]==3.17.2"`:        "3.17.2",
		`pip install my-mlflow==3.17.2`: "",
	} {
		got := ""
		if m := re.FindStringSubmatch(text); m != nil {
			got = m[1]
		}
		if got != want {
			t.Errorf("%s: got %q, want %q", text, got, want)
		}
	}
}

func TestOnlyPlainInterpolationCountsAsNoSecretLiteral(t *testing.T) {
	for value, want := range map[string]bool{
		"${PW:?set PW in .env}": true,
		"${PW?missing}":         true,
		"${TOKEN:-}":            true,
		"${PW}":                 true,
		"${PW:-hunter2}":        false,
		"hunter2":               false,
		"x${PW}":                false,
	} {
		if got := interpolationOnly.MatchString(value); got != want {
			t.Errorf("%q: got %v, want %v", value, got, want)
		}
	}
}

func TestVersionsCompareNumerically(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{{"1.95.0", "1.92", 1}, {"1.92", "1.92.0", 0}, {"1.9", "1.10", -1}, {"x", "1", -1}}
	for _, c := range cases {
		if got := compareVersions(c.a, c.b); got != c.want {
			t.Errorf("compareVersions(%s, %s) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
	if majorMinor("10.11.14-MariaDB") != "10.11" || majorMinor("10.11") != "10.11" || majorMinor("lts") != "" {
		t.Error("majorMinor")
	}
}

func TestAServiceGettingASecretMustRefuseThePlaceholders(t *testing.T) {
	svc := types.ServiceConfig{Name: "db"}
	svc.Environment = types.MappingWithEquals{}
	pw, id := "x", "y"
	svc.Environment["AWS_ACCESS_KEY_ID"] = &id
	var found problems
	if err := checkRefusesPlaceholders(svc, &found); err != nil || len(found) != 0 {
		t.Fatalf("an access key id alone is no secret: %v %q", err, found)
	}
	svc.Environment["AWS_SECRET_ACCESS_KEY"] = &pw
	if err := checkRefusesPlaceholders(svc, &found); err != nil || len(found) != 1 ||
		!strings.Contains(found[0], "AWS_SECRET_ACCESS_KEY") {
		t.Fatalf("want one finding naming AWS_SECRET_ACCESS_KEY: %v %q", err, found)
	}
	found = nil
	svc.Entrypoint = types.ShellCommand{"/bin/sh", "-c", `case "$X" in change-me*) exit 1;; esac; exec "$@"`}
	if err := checkRefusesPlaceholders(svc, &found); err != nil || len(found) != 0 {
		t.Fatalf("an entrypoint that refuses them passes: %v %q", err, found)
	}
}
