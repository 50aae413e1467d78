package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestUsageAndVersionDoNotStart(t *testing.T) {
	for _, arg := range []string{"--version", "-h"} {
		var out, errOut bytes.Buffer
		if rc := run([]string{arg}, envOf(nil), &out, &errOut); rc != 0 {
			t.Errorf("%s: exit %d, stderr %s", arg, rc, errOut.String())
		}
		if !strings.Contains(out.String(), "hongshan-chaincode") {
			t.Errorf("%s printed %q", arg, out.String())
		}
	}
	if rc := run([]string{"--bogus"}, envOf(nil), &bytes.Buffer{}, &bytes.Buffer{}); rc != 2 {
		t.Errorf("unknown flag: exit %d, want 2", rc)
	}
}

func TestMissingEnvironmentIsAClearFailure(t *testing.T) {
	var errOut bytes.Buffer
	if rc := run(nil, envOf(map[string]string{"CHAINCODE_SERVER_ADDRESS": "127.0.0.1:0"}), &bytes.Buffer{}, &errOut); rc != 1 {
		t.Fatalf("exit %d, want 1", rc)
	}
	if !strings.Contains(errOut.String(), "CHAINCODE_ID is not set") {
		t.Errorf("stderr %q does not name the missing variable", errOut.String())
	}
}

func TestConfig(t *testing.T) {
	cfg, err := loadConfig(envOf(map[string]string{"CHAINCODE_SERVER_ADDRESS": "0.0.0.0:9999", "CHAINCODE_ID": "hongshan_1:abc"}))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.tls.Disabled || cfg.scitechMSP != "SciTechBureauMSP" || cfg.financeMSP != "FinanceBureauMSP" {
		t.Errorf("defaults: %+v", cfg)
	}

	dir := t.TempDir()
	key, cert := filepath.Join(dir, "key.pem"), filepath.Join(dir, "cert.pem")
	for _, f := range []string{key, cert} {
		if err := os.WriteFile(f, []byte(f), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err = loadConfig(envOf(map[string]string{
		"CHAINCODE_SERVER_ADDRESS": "0.0.0.0:9999", "CHAINCODE_ID": "hongshan_1:abc",
		"CHAINCODE_TLS_KEY_FILE": key, "CHAINCODE_TLS_CERT_FILE": cert,
		"HONGSHAN_FINANCE_MSP": "CaiZhengMSP",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.tls.Disabled || string(cfg.tls.Key) != key || string(cfg.tls.Cert) != cert || cfg.financeMSP != "CaiZhengMSP" {
		t.Errorf("tls config: %+v", cfg)
	}

	// Half a TLS configuration is refused, never silently plaintext.
	if _, err := loadConfig(envOf(map[string]string{
		"CHAINCODE_SERVER_ADDRESS": "0.0.0.0:9999", "CHAINCODE_ID": "x", "CHAINCODE_TLS_KEY_FILE": key,
	})); err == nil {
		t.Error("key without cert accepted")
	}
	if _, err := loadConfig(envOf(map[string]string{
		"CHAINCODE_SERVER_ADDRESS": "0.0.0.0:9999", "CHAINCODE_ID": "x",
		"CHAINCODE_TLS_KEY_FILE": key, "CHAINCODE_TLS_CERT_FILE": filepath.Join(dir, "missing.pem"),
	})); err == nil {
		t.Error("missing cert file accepted")
	}
}
