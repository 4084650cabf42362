package main

import (
	"os"
	"strings"
	"testing"
)

// A pipeline shaped like the repository's: build on "builder", credentials on "signer" around one sh step.
const goodPipeline = `
pipeline {
    agent none
    environment { PIPELINE = 'target/release/pipeline' }
    stages {
        stage('Build') {
            agent { label 'builder' }
            steps {
                checkout(scm)
                sh '''
                    scripts/setup.sh
                    cargo build --release
                '''
                stash(name: 'tools', includes: 'target/release/pipeline')
            }
        }
        stage('Release') {
            agent { label 'signer' }
            stages {
                stage('Promote') {
                    steps {
                        unstash('tools')
                        withCredentials([file(credentialsId: 'k', variable: 'KEY')]) {
                            sh '''
                                # the binary scripts/setup.sh's ONNX Runtime is loaded by: not a build
                                "$PIPELINE" promote --signing-key "$KEY"
                            '''
                        }
                    }
                }
            }
        }
    }
}
`

func jenkinsfileProblems(src string) problems {
	var found problems
	checkJenkinsfile("Jenkinsfile", src, map[string]bool{"builder": true, "signer": true}, &found)
	return found
}

func expectProblem(t *testing.T, what, src, want string) {
	t.Helper()
	found := jenkinsfileProblems(src)
	for _, p := range found {
		if strings.Contains(p, want) {
			return
		}
	}
	t.Errorf("%s: no problem containing %q; got %q", what, want, found)
}

func TestTheRepositoryShapeOfPipelinePasses(t *testing.T) {
	if found := jenkinsfileProblems(goodPipeline); len(found) > 0 {
		t.Fatalf("unexpected problems: %q", found)
	}
}

func TestEachWayABuildReachesASecretIsFound(t *testing.T) {
	expectProblem(t, "agent any", strings.Replace(goodPipeline, "agent none", "agent any", 1),
		"top-level agent is `agent any`")
	expectProblem(t, "no top-level agent", strings.Replace(goodPipeline, "agent none", "", 1),
		"no top-level `agent none`")
	expectProblem(t, "credentials where the build runs",
		strings.Replace(goodPipeline, "agent { label 'signer' }", "agent { label 'builder' }", 1),
		"uses withCredentials on the agent that builds")
	expectProblem(t, "unknown label", strings.Replace(goodPipeline, "label 'signer'", "label 'elsewhere'", 1),
		"which no agent of casc.yaml has")
	expectProblem(t, "two shell steps",
		strings.Replace(goodPipeline, `"$PIPELINE" promote --signing-key "$KEY"
                            '''`, `"$PIPELINE" promote --signing-key "$KEY"
                            '''
                            sh 'ls'`, 1),
		"wraps 2 shell steps")
	expectProblem(t, "a build inside the credentials",
		strings.Replace(goodPipeline, `"$PIPELINE" promote`, `cargo run -- promote`, 1),
		"withCredentials wraps a build or checkout step")
	expectProblem(t, "credentials in environment",
		strings.Replace(goodPipeline, "PIPELINE = 'target/release/pipeline'", "KEY = credentials('k')", 1),
		"credentials() in an environment block")
	// The same two stages, the signing one first.
	build := goodPipeline[strings.Index(goodPipeline, "        stage('Build')"):strings.Index(goodPipeline, "        stage('Release')")]
	swapped := strings.Replace(goodPipeline, build, "", 1)
	swapped = strings.Replace(swapped, "    }\n}\n", build+"    }\n}\n", 1)
	expectProblem(t, "credentials before the build", swapped, "uses withCredentials before the build stage")
}

func TestCommentsAndStringsDoNotCount(t *testing.T) {
	src := strings.Replace(goodPipeline, "agent none", "agent none // not `agent any` { }", 1)
	if found := jenkinsfileProblems(src); len(found) > 0 {
		t.Fatalf("a comment changed the result: %q", found)
	}
}

func TestCascNeedsZeroExecutorsAndAgents(t *testing.T) {
	for yamlText, want := range map[string]string{
		"jenkins:\n  mode: NORMAL\n":    "numExecutors is not set",
		"jenkins:\n  numExecutors: 2\n": "numExecutors is 2",
		"jenkins:\n  numExecutors: 0\n": "declares no agent",
		"jenkins:\n  numExecutors: 0\n  nodes:\n    - permanent:\n        name: a\n        numExecutors: 1\n": "no labelString",
	} {
		var found problems
		if _, err := checkCasc(jenkinsInputs{casc: "casc.yaml"}, []byte(yamlText), &found); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(strings.Join(found, "\n"), want) {
			t.Errorf("%q: want %q, got %q", yamlText, want, found)
		}
	}
}

// The files as they were before issue 12 (builds on the controller, next to the secrets): every property
// the check asserts fails on them.
func TestTheFilesBeforeIssue12Fail(t *testing.T) {
	dir := "testdata/before-issue-12"
	jf, err := os.ReadFile(dir + "/Jenkinsfile")
	if err != nil {
		t.Fatal(err)
	}
	casc, err := os.ReadFile(dir + "/casc.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var found problems
	agents, err := checkCasc(jenkinsInputs{casc: "casc.yaml"}, casc, &found)
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]bool{}
	for _, a := range agents {
		labels[a.labels] = true
	}
	checkJenkinsfile("Jenkinsfile", string(jf), labels, &found)
	if err := checkSecretFilesRemoved(jenkinsInputs{controllerDir: dir}, &found); err != nil {
		t.Fatal(err)
	}
	all := strings.Join(found, "\n")
	for _, want := range []string{
		"numExecutors is 2",
		"declares no agent",
		"top-level agent is `agent any`",
		"stage 'Build' runs on no agent of its own",
		"stage 'Promote' uses withCredentials on the agent that builds",
		"stage 'Rollback' uses withCredentials on the agent that builds",
		"no init.groovy.d script deletes the $SECRETS files",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no finding %q in:\n%s", want, all)
		}
	}
}
