// Command hongshan-chaincode serves the voucher contract to Fabric peers as
// an external chaincode (chaincode-as-a-service): the peer connects to it
// over gRPC instead of building and launching a container.
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"

	"github.com/hongshan-ledger/hongshan/chaincode/fabric"
	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `hongshan-chaincode %s: the 红山科技创新券 voucher contract as a Fabric
chaincode-as-a-service server.

Usage: hongshan-chaincode [--version | -h]

Environment:
  CHAINCODE_SERVER_ADDRESS          listen address, e.g. 0.0.0.0:9999 (required)
  CHAINCODE_ID                      package id from 'peer lifecycle chaincode
                                    install', e.g. hongshan_1.0:abc... (required)
  CHAINCODE_TLS_KEY_FILE            PEM private key; TLS is off unless the key
  CHAINCODE_TLS_CERT_FILE           and the certificate are both set
  CHAINCODE_TLS_CLIENT_CACERT_FILE  PEM CA of peers' client certificates
                                    (optional; enables mutual TLS)
  HONGSHAN_SCITECH_MSP              MSP id of the S&T bureau (default SciTechBureauMSP);
                                    roles scitech and agency are pinned to it
  HONGSHAN_FINANCE_MSP              MSP id of the finance bureau (default
                                    FinanceBureauMSP); role finance is pinned to it
`

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// config is what the environment says.
type config struct {
	address    string
	ccID       string
	tls        shim.TLSProperties
	scitechMSP string
	financeMSP string
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	for _, a := range args {
		switch a {
		case "--version", "-version", "-v":
			fmt.Fprintf(stdout, "hongshan-chaincode %s\n", version)
			return 0
		case "-h", "--help", "-help":
			fmt.Fprintf(stdout, usage, version)
			return 0
		default:
			fmt.Fprintf(stderr, "hongshan-chaincode: unknown argument %q\n\n", a)
			fmt.Fprintf(stderr, usage, version)
			return 2
		}
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		log.Error("hongshan-chaincode cannot start", "err", err)
		return 1
	}
	contract := voucher.New(
		voucher.WithRoleMSPs(voucher.RoleSciTech, cfg.scitechMSP),
		voucher.WithRoleMSPs(voucher.RoleFinance, cfg.financeMSP),
		// Agencies are enrolled at the S&T bureau's CA.
		voucher.WithRoleMSPs(voucher.RoleAgency, cfg.scitechMSP),
	)
	server := &shim.ChaincodeServer{
		CCID:     cfg.ccID,
		Address:  cfg.address,
		CC:       fabric.New(contract),
		TLSProps: cfg.tls,
	}
	log.Info("hongshan-chaincode starting",
		"version", version,
		"address", cfg.address,
		"chaincode_id", cfg.ccID,
		"tls", !cfg.tls.Disabled,
		"mutual_tls", len(cfg.tls.ClientCACerts) > 0,
		"scitech_msp", cfg.scitechMSP,
		"finance_msp", cfg.financeMSP,
	)

	done := make(chan error, 1)
	go func() { done <- server.Start() }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case err := <-done:
		log.Error("hongshan-chaincode server stopped", "err", err)
		return 1
	case s := <-sig:
		log.Info("hongshan-chaincode stopping", "signal", s.String())
		return 0
	}
}

func loadConfig(getenv func(string) string) (config, error) {
	cfg := config{
		address:    getenv("CHAINCODE_SERVER_ADDRESS"),
		ccID:       getenv("CHAINCODE_ID"),
		scitechMSP: envOr(getenv, "HONGSHAN_SCITECH_MSP", "SciTechBureauMSP"),
		financeMSP: envOr(getenv, "HONGSHAN_FINANCE_MSP", "FinanceBureauMSP"),
	}
	var errs []error
	if cfg.address == "" {
		errs = append(errs, errors.New("CHAINCODE_SERVER_ADDRESS is not set (the host:port to listen on)"))
	}
	if cfg.ccID == "" {
		errs = append(errs, errors.New("CHAINCODE_ID is not set (the package id the peer knows this chaincode by)"))
	}
	tls, err := loadTLS(getenv)
	if err != nil {
		errs = append(errs, err)
	}
	cfg.tls = tls
	return cfg, errors.Join(errs...)
}

// loadTLS reads the TLS files named by the environment. TLS is disabled only
// when neither key nor certificate is named; one without the other is an
// error rather than a silent plaintext server.
func loadTLS(getenv func(string) string) (shim.TLSProperties, error) {
	keyFile := getenv("CHAINCODE_TLS_KEY_FILE")
	certFile := getenv("CHAINCODE_TLS_CERT_FILE")
	caFile := getenv("CHAINCODE_TLS_CLIENT_CACERT_FILE")
	if keyFile == "" && certFile == "" {
		if caFile != "" {
			return shim.TLSProperties{}, errors.New("CHAINCODE_TLS_CLIENT_CACERT_FILE is set without CHAINCODE_TLS_KEY_FILE and CHAINCODE_TLS_CERT_FILE")
		}
		return shim.TLSProperties{Disabled: true}, nil
	}
	if keyFile == "" || certFile == "" {
		return shim.TLSProperties{}, errors.New("CHAINCODE_TLS_KEY_FILE and CHAINCODE_TLS_CERT_FILE must be set together")
	}
	props := shim.TLSProperties{}
	var err error
	if props.Key, err = os.ReadFile(keyFile); err != nil {
		return shim.TLSProperties{}, fmt.Errorf("CHAINCODE_TLS_KEY_FILE: %w", err)
	}
	if props.Cert, err = os.ReadFile(certFile); err != nil {
		return shim.TLSProperties{}, fmt.Errorf("CHAINCODE_TLS_CERT_FILE: %w", err)
	}
	if caFile != "" {
		if props.ClientCACerts, err = os.ReadFile(caFile); err != nil {
			return shim.TLSProperties{}, fmt.Errorf("CHAINCODE_TLS_CLIENT_CACERT_FILE: %w", err)
		}
	}
	return props, nil
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}
