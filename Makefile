# Hongshan — the ledger for 红山科技创新券. `make help` lists the targets.

SHELL := /bin/bash
GO ?= go
BIN := bin
ADDR ?= 127.0.0.1:8080
DATA_DIR ?= ./data
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT ?= $(shell command -v golangci-lint 2>/dev/null || echo $(shell $(GO) env GOPATH)/bin/golangci-lint)
# A count, not a duration: with a duration, go1.26's fuzz coordinator can report a spurious
# "context deadline exceeded" at the deadline (golang/go#75804, fixed in go1.27).
FUZZTIME ?= 50000x

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/hongshan-gateway, bin/hongshan and bin/hongshan-chaincode
	$(GO) build -o $(BIN)/hongshan-gateway ./gateway/cmd/hongshan-gateway
	$(GO) build -o $(BIN)/hongshan ./client/cmd/hongshan
	$(GO) build -o $(BIN)/hongshan-chaincode ./chaincode/cmd/hongshan-chaincode

.PHONY: run
run: build ## Start the gateway on the embedded ledger at 127.0.0.1:8080, data in ./data (ADDR=, DATA_DIR= to change)
	$(BIN)/hongshan-gateway --addr $(ADDR) --data-dir $(DATA_DIR) --backend embedded

.PHONY: test
test: test-unit test-fuzz test-fabric ## The whole suite: test-unit, test-fuzz and test-fabric

.PHONY: test-unit
test-unit: ## Unit, property, e2e and browser tests on the embedded ledger (-race)
	$(GO) test -race -count=1 ./...

.PHONY: test-fuzz
test-fuzz: ## Run each fuzz target briefly (FUZZTIME=50000x executions by default)
	@for f in FuzzValidateUSCC FuzzValidateCertificateNo FuzzValidateSHA256 FuzzParseDate FuzzParseMoney FuzzAppendJSONString FuzzFlatReader FuzzFormatMoney FuzzMustMoney; do \
		$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) ./chaincode/voucher || exit 1; \
	done
	$(GO) test -run '^$$' -fuzz '^FuzzTreeReader$$' -fuzztime $(FUZZTIME) ./gateway/backend/embedded

.PHONY: test-fabric
test-fabric: build ## The Fabric backend's integration tests and the e2e suite on a real Fabric network (brought up here, and down whatever happens)
	@trap 'bash network/down.sh' EXIT; trap 'exit 130' INT TERM; \
	bash network/up.sh && \
	HONGSHAN_FABRIC_PROFILE=$(CURDIR)/network/.state/connection-profile.yaml \
		$(GO) test -count=1 -timeout 5m -run Integration ./gateway/backend/fabric && \
	HONGSHAN_E2E_BACKEND=fabric HONGSHAN_E2E_GATEWAY_BIN=$(CURDIR)/$(BIN)/hongshan-gateway \
		$(GO) test -count=1 -timeout 20m ./e2e/...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## golangci-lint v2.15.0 (installed if missing), gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	$(GOLANGCI_LINT) run ./...

$(GOLANGCI_LINT):
	$(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

.PHONY: network-up
network-up: ## Build (or reuse) Fabric 2.5 + Fabric CA and start the native network
	bash network/up.sh

.PHONY: network-down
network-down: ## Stop every network process and remove its state
	bash network/down.sh

.PHONY: run-fabric
run-fabric: build ## Start the gateway on the network that `make network-up` started
	$(BIN)/hongshan-gateway --addr $(ADDR) --data-dir $(DATA_DIR)-fabric --backend fabric

.PHONY: bench
bench: build ## 50,000 claims over HTTP from 64 clients vs bbolt DB.Batch (docs/performance.md)
	$(GO) run ./e2e/cmd/hongshan-bench

.PHONY: bench-report
bench-report: ## Reconciliation (JSON, CSV, XLSX) and a full ledger verify over 1,000,000 vouchers: time and peak RSS
	$(GO) run ./gateway/report/cmd/hongshan-bench-report
	$(GO) test -run '^$$' -bench BenchmarkVerify -benchtime 1000000x -timeout 25m ./gateway/backend/embedded/

.PHONY: bench-ledger
bench-ledger: ## The embedded ledger's group commit vs bbolt DB.Batch, no HTTP
	$(GO) test -run '^$$' -bench . -benchtime 20000x ./gateway/backend/embedded

BENCH_FABRIC_ARGS ?=
.PHONY: bench-fabric
bench-fabric: build ## Claims through the gateway vs direct fabric-sdk-go on a FRESH network (replaces a running one; docs/performance.md)
	@trap 'bash network/down.sh' EXIT; trap 'exit 130' INT TERM; \
	bash network/down.sh && bash network/up.sh && \
	$(GO) run ./e2e/cmd/hongshan-bench-fabric $(BENCH_FABRIC_ARGS)

.PHONY: clean
clean: ## Remove build output
	rm -rf $(BIN)
