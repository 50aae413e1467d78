# network/lib/chaincode.sh: the chaincode `hongshan` as a service, through
# the full lifecycle (package, install, approve by both bureaus, commit).
#
# The package is built with tar (the peer CLI cannot package type ccaas):
# metadata.json {"type":"ccaas"} plus code.tar.gz holding connection.json,
# which tells the peer where its org's chaincode server listens. The packages
# of the two orgs differ (address, TLS root), hence their package ids differ;
# the chaincode definition (name, version, sequence, policy) is the same.

cc_dir() { printf '%s' "$ORGS_DIR/$1/chaincode"; }
cc_package() { printf '%s' "$(cc_dir "$1")/$HONGSHAN_CC_LABEL.tar.gz"; }
cc_package_id_file() { printf '%s' "$(cc_dir "$1")/package-id"; }

json_string_of_file() { awk 'BEGIN { ORS = "" } { gsub(/\\/, "\\\\"); gsub(/"/, "\\\""); print $0 "\\n" }' "$1"; }

package_chaincode() {
  local org=$1 d src
  d=$(cc_dir "$org")
  src=$d/pkg
  rm -rf "$src" && mkdir -p "$src/code"
  {
    printf '{\n  "address": "127.0.0.1:%s",\n  "dial_timeout": "10s",\n' "$(v "HONGSHAN_$(U "$org")_CCAAS_PORT")"
    if [[ $HONGSHAN_CCAAS_TLS == true ]]; then
      printf '  "tls_required": true,\n  "client_auth_required": false,\n'
      printf '  "root_cert": "%s"\n}\n' "$(json_string_of_file "$d/tls/ca.crt")"
    else
      printf '  "tls_required": false\n}\n'
    fi
  } >"$src/code/connection.json"
  printf '{"type":"ccaas","label":"%s"}\n' "$HONGSHAN_CC_LABEL" >"$src/metadata.json"
  tar -C "$src/code" -czf "$src/code.tar.gz" connection.json
  tar -C "$src" -czf "$(cc_package "$org")" metadata.json code.tar.gz
}

# installed_package_id ORG: the package id of our label on peer0.ORG.
installed_package_id() {
  peer_cli "$1" lifecycle chaincode queryinstalled 2>/dev/null |
    sed -n "s/^Package ID: \(${HONGSHAN_CC_LABEL}:[0-9a-f]*\), Label: ${HONGSHAN_CC_LABEL}\$/\1/p" | head -n 1
}

install_chaincode() {
  local org=$1 id
  id=$(installed_package_id "$org")
  if [[ -z $id ]]; then
    peer_cli "$org" lifecycle chaincode install "$(cc_package "$org")" >>"$LOG_DIR/chaincode.log" 2>&1 ||
      die "installing the chaincode on peer0.$org failed, see $LOG_DIR/chaincode.log"
    id=$(installed_package_id "$org")
  fi
  [[ -n $id ]] || die "no package id for $HONGSHAN_CC_LABEL on peer0.$org"
  printf '%s' "$id" >"$(cc_package_id_file "$org")"
}

cc_definition_flags() {
  printf '%s\n' --channelID "$HONGSHAN_CHANNEL" --name "$HONGSHAN_CC_NAME" --version "$HONGSHAN_CC_VERSION" \
    --sequence "$HONGSHAN_CC_SEQUENCE" --signature-policy "$HONGSHAN_CC_POLICY"
}

approve_chaincode() {
  local org=$1 flags
  mapfile -t flags < <(cc_definition_flags; orderer_flags)
  peer_cli "$org" lifecycle chaincode approveformyorg "${flags[@]}" \
    --package-id "$(<"$(cc_package_id_file "$org")")" --waitForEvent >>"$LOG_DIR/chaincode.$org.log" 2>&1
}

cc_committed() {
  peer_cli "$1" lifecycle chaincode querycommitted -C "$HONGSHAN_CHANNEL" -n "$HONGSHAN_CC_NAME" 2>/dev/null |
    grep -q "Sequence: $HONGSHAN_CC_SEQUENCE,"
}

commit_chaincode() {
  local flags org
  mapfile -t flags < <(cc_definition_flags; orderer_flags; all_peer_flags)
  peer_cli scitech lifecycle chaincode commit "${flags[@]}" --waitForEvent >>"$LOG_DIR/chaincode.log" 2>&1 ||
    die "committing the chaincode definition failed, see $LOG_DIR/chaincode.log"
  for org in "${PEER_ORGS[@]}"; do
    poll "$HONGSHAN_WAIT_TIMEOUT" "the chaincode definition on peer0.$org" cc_committed "$org" ||
      die "the chaincode definition is not committed on peer0.$org"
  done
}

# deploy_chaincode: install on both peers, start the chaincode servers,
# approve for both orgs (in parallel, they land in one block), commit.
deploy_chaincode() {
  local org pids=() failed=0
  for org in "${PEER_ORGS[@]}"; do
    package_chaincode "$org"
    install_chaincode "$org"
    setup_chaincode_server "$org" "$(<"$(cc_package_id_file "$org")")"
  done
  log "chaincode installed: $(for org in "${PEER_ORGS[@]}"; do printf '%s ' "$(<"$(cc_package_id_file "$org")")"; done)"
  start_chaincode_servers
  if cc_committed scitech; then return 0; fi
  for org in "${PEER_ORGS[@]}"; do
    approve_chaincode "$org" &
    pids+=($!)
  done
  for org in "${!pids[@]}"; do wait "${pids[$org]}" || failed=1; done
  ((failed == 0)) || die "approving the chaincode failed, see $LOG_DIR/chaincode.*.log"
  log "chaincode approved by both bureaus"
  commit_chaincode
  log "chaincode committed with endorsement policy $HONGSHAN_CC_POLICY"
}

chaincode_sha_file() { printf '%s' "$PID_DIR/chaincode.$1.sha256"; }

start_chaincode_servers() {
  local org
  for org in "${PEER_ORGS[@]}"; do
    node_start "chaincode.$org"
    sha256sum "$HONGSHAN_CHAINCODE_BIN" | cut -d' ' -f1 >"$(chaincode_sha_file "$org")"
  done
  wait_healthy chaincode.scitech chaincode.finance
}

# restart_stale_chaincode_servers: restart chaincode servers whose binary was
# rebuilt since they started (CCaaS: the definition does not change).
restart_stale_chaincode_servers() {
  local org now
  now=$(sha256sum "$HONGSHAN_CHAINCODE_BIN" | cut -d' ' -f1)
  for org in "${PEER_ORGS[@]}"; do
    if [[ $(cat "$(chaincode_sha_file "$org")" 2>/dev/null) != "$now" ]]; then
      log "chaincode binary changed: restarting chaincode.$org"
      node_stop "chaincode.$org"
    fi
    # (re)write the launch script: HONGSHAN_CHAINCODE_BIN may have changed
    setup_chaincode_server "$org" "$(<"$(cc_package_id_file "$org")")"
  done
  start_chaincode_servers
}

# query_ready ORG: the chaincode answers GetPolicy on peer0.ORG (as the bureau user).
query_ready() {
  local org=$1
  peer_cli "$org" --as "$(v "HONGSHAN_$(U "$org")_USER")" chaincode query -C "$HONGSHAN_CHANNEL" \
    -n "$HONGSHAN_CC_NAME" -c '{"Args":["GetPolicy","{}"]}'
}

wait_chaincode_ready() {
  local org
  for org in "${PEER_ORGS[@]}"; do
    poll "$HONGSHAN_WAIT_TIMEOUT" "GetPolicy on peer0.$org" query_ready "$org" || {
      query_ready "$org" >&2 || true
      die "the chaincode does not answer on peer0.$org, see $LOG_DIR/chaincode.$org.log and $LOG_DIR/peer0.$org.log"
    }
  done
  wait_peers_see_each_other
}

# gossip_peers_known ORG: how many other peers of the channel peer0.ORG knows
# (its gossip membership gauge on the operations endpoint).
gossip_peers_known() {
  local org=$1
  curl -sf --max-time 2 "http://127.0.0.1:$(v "HONGSHAN_$(U "$org")_PEER_OPS_PORT")/metrics" |
    awk -v ch="$HONGSHAN_CHANNEL" '$1 == "gossip_membership_total_peers_known{channel=\"" ch "\"}" { print $2 }'
}

peer_sees_others() {
  local known
  known=$(gossip_peers_known "$1")
  [[ -n $known ]] && ((known >= ${#PEER_ORGS[@]} - 1))
}

# wait_peers_see_each_other: every peer knows every other peer of the
# channel through gossip, so service discovery (which the SDK uses to find
# the endorsers both bureaus' policy needs) answers.
wait_peers_see_each_other() {
  local org
  for org in "${PEER_ORGS[@]}"; do
    poll "$HONGSHAN_WAIT_TIMEOUT" "peer0.$org to see the other peers through gossip" peer_sees_others "$org" ||
      die "peer0.$org does not see the other peers through gossip, see $LOG_DIR/peer0.$org.log"
  done
}
