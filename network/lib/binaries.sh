# network/lib/binaries.sh: the pinned Fabric / Fabric CA binaries and the
# chaincode binary.
#
# The Fabric commands are built from network/tools (a Go module pinning
# github.com/hyperledger/fabric and fabric-ca) into HONGSHAN_FABRIC_BIN. The
# cache is keyed by version: each binary records its module version (go
# version -m), and a binary whose version differs from network/tools/go.mod
# is rebuilt.

TOOLS_DIR=$HONGSHAN_NETWORK_DIR/tools
FABRIC_CMDS=(peer orderer configtxgen cryptogen osnadmin)
FABRIC_CA_CMDS=(fabric-ca-server fabric-ca-client)

# required_version MODULE: the version network/tools/go.mod requires.
required_version() {
  awk -v m="$1" '$1 == m && $2 ~ /^v/ { print $2; exit }' "$TOOLS_DIR/go.mod"
}

# binary_version FILE: the version of the module the binary's main package is in.
binary_version() {
  go version -m "$1" 2>/dev/null | awk '$1 == "mod" { print $3; exit }'
}

binaries_current() {
  local fv cv c
  fv=$(required_version github.com/hyperledger/fabric)
  cv=$(required_version github.com/hyperledger/fabric-ca)
  [[ -n $fv && -n $cv ]] || die "cannot read the Fabric versions from $TOOLS_DIR/go.mod"
  for c in "${FABRIC_CMDS[@]}"; do
    [[ -x $FABRIC_BIN/$c && $(binary_version "$FABRIC_BIN/$c") == "$fv" ]] || return 1
  done
  for c in "${FABRIC_CA_CMDS[@]}"; do
    [[ -x $FABRIC_BIN/$c && $(binary_version "$FABRIC_BIN/$c") == "$cv" ]] || return 1
  done
}

# ensure_fabric_binaries: build the pinned binaries unless the cache has them.
ensure_fabric_binaries() {
  command -v go >/dev/null || die "go is required to build the Fabric binaries"
  if binaries_current; then
    log "Fabric binaries: cached in $FABRIC_BIN"
    return 0
  fi
  mkdir -p "$FABRIC_BIN"
  # One builder at a time when several checkouts share the cache.
  (
    if command -v flock >/dev/null; then flock 9; fi
    binaries_current && exit 0
    log "building Fabric (module version $(required_version github.com/hyperledger/fabric), i.e. v2.5.0) and Fabric CA" \
      "$(required_version github.com/hyperledger/fabric-ca) into $FABRIC_BIN (takes a few minutes)"
    local pkgs=() c
    for c in "${FABRIC_CMDS[@]}"; do pkgs+=("github.com/hyperledger/fabric/cmd/$c"); done
    for c in "${FABRIC_CA_CMDS[@]}"; do pkgs+=("github.com/hyperledger/fabric-ca/cmd/$c"); done
    cd "$TOOLS_DIR" && GOFLAGS=-mod=mod go build -o "$FABRIC_BIN/" "${pkgs[@]}"
  ) 9>"$FABRIC_BIN/.build.lock" || die "building the Fabric binaries failed"
  binaries_current || die "the binaries in $FABRIC_BIN do not match network/tools/go.mod after the build"
  log "Fabric binaries: built into $FABRIC_BIN"
}

# fabric_sampleconfig: the sampleconfig/ directory of the pinned Fabric module.
fabric_sampleconfig() {
  local dir
  dir=$(cd "$TOOLS_DIR" && GOFLAGS=-mod=mod go mod download github.com/hyperledger/fabric >/dev/null &&
    GOFLAGS=-mod=mod go list -m -f '{{.Dir}}' github.com/hyperledger/fabric) || true
  [[ -n $dir && -f $dir/sampleconfig/core.yaml ]] || die "cannot find Fabric's sampleconfig in the module cache"
  printf '%s' "$dir/sampleconfig"
}

# ensure_chaincode_binary: build bin/hongshan-chaincode from the repo if missing.
ensure_chaincode_binary() {
  if [[ -x $HONGSHAN_CHAINCODE_BIN ]]; then
    log "chaincode binary: $HONGSHAN_CHAINCODE_BIN"
    return 0
  fi
  [[ $HONGSHAN_CHAINCODE_BIN == "$HONGSHAN_REPO_DIR/bin/hongshan-chaincode" ]] ||
    die "HONGSHAN_CHAINCODE_BIN=$HONGSHAN_CHAINCODE_BIN does not exist"
  log "building $HONGSHAN_CHAINCODE_BIN"
  (cd "$HONGSHAN_REPO_DIR" && go build -o bin/hongshan-chaincode ./chaincode/cmd/hongshan-chaincode) ||
    die "building the chaincode failed"
}
