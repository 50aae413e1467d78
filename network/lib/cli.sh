# network/lib/cli.sh: the Fabric peer CLI with an org's environment.

# peer_cli_env ORG [USER]: print the env assignments for the peer CLI acting
# as USER (default: the org admin, Admin) against peer0.ORG.
peer_cli_env() {
  local org=$1 user=${2:-Admin} msp
  msp=$(user_msp "$org" "$user")
  printf '%s\n' \
    "FABRIC_CFG_PATH=$CFG_DIR" \
    "CORE_PEER_LOCALMSPID=$(org_msp "$org")" \
    "CORE_PEER_MSPCONFIGPATH=$msp" \
    "CORE_PEER_ADDRESS=$(peer_address "$org")" \
    "CORE_PEER_TLS_ENABLED=true" \
    "CORE_PEER_TLS_ROOTCERT_FILE=$(peer_tls_ca "$org")" \
    "CORE_PEER_FILESYSTEMPATH=$STATE/tmp/peer-cli" \
    "CORE_VM_ENDPOINT="
}

# peer_cli ORG [--as USER] ARGS...: run `peer ARGS...` as ORG's admin (or USER).
peer_cli() {
  local org=$1 user=Admin; shift
  if [[ ${1:-} == --as ]]; then user=$2; shift 2; fi
  [[ -d $(user_msp "$org" "$user") ]] || die "no MSP for $user in $org: $(user_msp "$org" "$user")"
  local envs
  mapfile -t envs < <(peer_cli_env "$org" "$user")
  bounded env "${envs[@]}" FABRIC_LOGGING_SPEC="${FABRIC_LOGGING_SPEC:-warning}" "$FABRIC_BIN/peer" "$@"
}

# orderer_flags: the flags the peer CLI needs to reach the ordering service
# (the first orderer whose health endpoint answers; orderer1 if none does).
orderer_flags() {
  local n pick=orderer1
  for n in "${ORDERERS[@]}"; do
    if http_ok "http://127.0.0.1:$(orderer_ops_port "$n")/healthz"; then pick=$n; break; fi
  done
  printf '%s\n' -o "127.0.0.1:$(orderer_port "$pick")" --tls --cafile "$(orderer_tls_ca)"
}

# all_peer_flags: --peerAddresses/--tlsRootCertFiles for every bureau peer, so
# that a transaction carries the endorsements its policy needs.
all_peer_flags() {
  local org
  for org in "${PEER_ORGS[@]}"; do
    printf '%s\n' --peerAddresses "$(peer_address "$org")" --tlsRootCertFiles "$(peer_tls_ca "$org")"
  done
}
