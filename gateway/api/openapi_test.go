package api

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

type specDoc struct {
	OpenAPI string                               `yaml:"openapi"`
	Paths   map[string]map[string]map[string]any `yaml:"paths"`
}

// mountedTag marks operations served by routes another package mounts
// through WithRoutes (gateway/report); the gateway binary's own test checks
// them against its full route set.
const mountedTag = "reports"

func tagged(op map[string]any, tag string) bool {
	tags, _ := op["tags"].([]any)
	for _, t := range tags {
		if t == tag {
			return true
		}
	}
	return false
}

func loadSpec(t *testing.T) specDoc {
	t.Helper()
	var doc specDoc
	if err := yaml.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Fatalf("openapi version %q, want 3.1.x", doc.OpenAPI)
	}
	return doc
}

// routedOps lists the gateway's routes as "METHOD /path/{param}".
func routedOps(t *testing.T) map[string]bool {
	h := newHarness(t)
	ops := map[string]bool{}
	for _, r := range h.api.Routes() {
		ops[r] = true
	}
	return ops
}

var httpMethods = map[string]bool{"get": true, "put": true, "post": true, "delete": true, "patch": true, "head": true, "options": true}

// documentedOps lists the spec's operations the same way (with mounted
// ones only when withMounted).
func documentedOps(t *testing.T, doc specDoc, withMounted bool) map[string]bool {
	ops := map[string]bool{}
	for path, item := range doc.Paths {
		for method, op := range item {
			if !httpMethods[method] {
				continue
			}
			if op["operationId"] == nil || op["responses"] == nil {
				t.Errorf("%s %s lacks operationId or responses", method, path)
			}
			if tagged(op, mountedTag) && !withMounted {
				continue
			}
			ops[strings.ToUpper(method)+" "+path] = true
		}
	}
	return ops
}

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	doc := loadSpec(t)
	documented := documentedOps(t, doc, true)
	routed := routedOps(t)
	var missing []string
	for op := range routed {
		if !documented[op] {
			missing = append(missing, op)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("routes missing from openapi.yaml:\n%s", strings.Join(missing, "\n"))
	}
}

func TestOpenAPIRoutesEveryOperation(t *testing.T) {
	doc := loadSpec(t)
	documented := documentedOps(t, doc, false)
	routed := routedOps(t)
	var ghosts []string
	for op := range documented {
		if !routed[op] {
			ghosts = append(ghosts, op)
		}
	}
	sort.Strings(ghosts)
	if len(ghosts) > 0 {
		t.Fatalf("documented operations with no route:\n%s", strings.Join(ghosts, "\n"))
	}
	if len(documented) < 25 {
		t.Fatalf("only %d operations documented", len(documented))
	}
}

// TestOpenAPIDocsCopy keeps docs/openapi.yaml identical to the embedded
// canonical file (go:embed cannot reach ../../docs).
func TestOpenAPIDocsCopy(t *testing.T) {
	docsCopy, err := os.ReadFile(filepath.Join("..", "..", "docs", "openapi.yaml"))
	if err != nil {
		t.Fatalf("docs/openapi.yaml: %v (copy gateway/api/openapi.yaml there)", err)
	}
	if !bytes.Equal(docsCopy, OpenAPI) {
		t.Fatal("docs/openapi.yaml differs from gateway/api/openapi.yaml: cp gateway/api/openapi.yaml docs/openapi.yaml")
	}
}

// TestOpenAPIErrorCodes keeps the Problem schema's code list equal to the
// code table.
func TestOpenAPIErrorCodes(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Enum []string `yaml:"enum"`
				} `yaml:"properties"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	documented := doc.Components.Schemas["Problem"].Properties["code"].Enum
	var table []string
	for code := range codeTable {
		table = append(table, string(code))
	}
	sort.Strings(documented)
	sort.Strings(table)
	if strings.Join(documented, ",") != strings.Join(table, ",") {
		t.Fatalf("Problem.code enum %v\ncode table      %v", documented, table)
	}
}
