#!/usr/bin/env bash
# network/up.sh (make network-up): bring up the local Hongshan Fabric network
# as native processes on 127.0.0.1 (no Docker): 3 CAs, 3 raft orderers, one
# peer per bureau, channel `hongshan`, chaincode `hongshan` as a service.
# See network/README.md.
#
# Idempotent:
#  - network up and healthy          -> returns after a GetPolicy check
#                                       (restarting the chaincode servers if
#                                       bin/hongshan-chaincode was rebuilt);
#  - state complete, processes down  -> restarts them from their launch
#                                       scripts, keeping ledgers and
#                                       identities (if that fails: rebuild);
#  - state incomplete (a failed up)  -> tears it down and builds afresh.
#
# Every wait polls (health endpoints, channel info, querycommitted, a
# GetPolicy query) and the whole bring-up is bounded by HONGSHAN_UP_TIMEOUT
# seconds (default 240; building the Fabric binaries is not counted).
#
# Env: HONGSHAN_FABRIC_BIN (binary cache), HONGSHAN_CHAINCODE_BIN, any value
# of network/config.env, HONGSHAN_UP_TIMEOUT, HONGSHAN_KEEP_ON_FAILURE=1
# (leave processes running when a fresh up fails, for debugging).
set -euo pipefail

_t0=${EPOCHREALTIME/[.,]/}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
for f in common binaries identities nodes cli channel chaincode profile; do
  # shellcheck disable=SC1090
  source "$here/lib/$f.sh"
done

check_prerequisites() {
  local c missing=()
  for c in go curl tar openssl setsid sha256sum awk sed timeout; do
    command -v "$c" >/dev/null || missing+=("$c")
  done
  ((${#missing[@]} == 0)) || die "missing commands: ${missing[*]}"
}

all_nodes_healthy() {
  local n
  for n in "${ALL_NODES[@]}"; do
    node_running "$n" && node_health "$n" || return 1
  done
}

publish() {
  local org
  write_network_env
  for org in "${PEER_ORGS[@]}"; do write_connection_profile "$org"; done
}

# restart: bring back every stopped process of a complete network.
restart() {
  local n org
  log "restarting stopped processes from $STATE"
  for n in ca.orderer ca.scitech ca.finance "${ORDERERS[@]}" peer0.scitech peer0.finance; do node_start "$n"; done
  wait_healthy ca.orderer ca.scitech ca.finance "${ORDERERS[@]}" peer0.scitech peer0.finance
  wait_orderers_serving
  for org in "${PEER_ORGS[@]}"; do
    poll "$HONGSHAN_WAIT_TIMEOUT" "peer0.$org on $HONGSHAN_CHANNEL" peer_joined "$org" || die "peer0.$org lost the channel"
  done
  restart_stale_chaincode_servers
  wait_chaincode_ready
  publish
}

on_fresh_failure() {
  local rc=$?
  ((rc == 0)) && return 0
  if [[ ${HONGSHAN_KEEP_ON_FAILURE:-} == 1 ]]; then
    log "up failed (exit $rc); processes left running (HONGSHAN_KEEP_ON_FAILURE=1), logs in $LOG_DIR"
  else
    log "up failed (exit $rc): stopping what was started; logs kept in $LOG_DIR (make network-down removes them)"
    stop_all_nodes
  fi
}

stop_all_nodes() { bash "$here/down.sh" --keep-state >/dev/null 2>&1 || true; }

fresh() {
  local org n pids=() failed=0
  mkdir -p "$STATE" "$RUN_DIR" "$PID_DIR" "$LOG_DIR" "$DATA_DIR" "$ORGS_DIR" "$STATE/tmp"
  chmod 700 "$STATE"
  ports_free || die "cannot start the network: a port is taken"
  trap on_fresh_failure EXIT
  write_settings
  write_secrets
  load_secrets

  # 1. a Fabric CA per organisation
  write_ca_config_template
  for org in orderer "${PEER_ORGS[@]}"; do setup_ca "$org"; node_start "ca.$org"; done
  wait_healthy ca.orderer ca.scitech ca.finance
  log "CAs up"

  # 2. identities, one org per parallel job
  for org in orderer "${PEER_ORGS[@]}"; do
    setup_org_identities "$org" &
    pids+=($!)
  done
  for n in "${pids[@]}"; do wait "$n" || failed=1; done
  ((failed == 0)) || die "enrolling identities failed, see $LOG_DIR/identities.*.log"
  log "identities registered and enrolled"

  # 3. orderers and peers; the genesis block meanwhile
  setup_config_dir
  for n in "${ORDERERS[@]}"; do setup_orderer "$n"; node_start "$n"; done
  install_builder
  for org in "${PEER_ORGS[@]}"; do setup_peer "$org"; node_start "peer0.$org"; done
  create_genesis_block
  wait_healthy "${ORDERERS[@]}" peer0.scitech peer0.finance
  log "orderers and peers up"

  # 4. the channel, through the channel participation API
  join_orderers
  join_peers
  wait_orderers_serving
  log "channel $HONGSHAN_CHANNEL created, raft leader elected, peers joined"

  # 5. the chaincode
  deploy_chaincode
  wait_chaincode_ready
  wait_orderer_snapshots
  log "chaincode $HONGSHAN_CC_NAME answers on both peers"

  publish
  rm -rf "$STATE/tmp"
  date -Is >"$READY_MARK"
  trap - EXIT
}

main() {
  check_prerequisites
  take_lock
  ensure_fabric_binaries
  ensure_chaincode_binary
  export HONGSHAN_DEADLINE=$(($(date +%s) + ${HONGSHAN_UP_TIMEOUT:-240}))
  export HONGSHAN_CMD_TIMEOUT=${HONGSHAN_CMD_TIMEOUT:-90}

  if [[ -f $READY_MARK ]]; then
    load_secrets
    if all_nodes_healthy; then
      restart_stale_chaincode_servers
      if (wait_chaincode_ready); then
        publish
        log "network already up ($STATE)"
        return 0
      fi
    fi
    if (restart); then
      log "network up again after restart ($(elapsed)s)"
      return 0
    fi
    log "restart failed: rebuilding the network from scratch"
  fi
  local old_logs=""
  if [[ -e $STATE ]]; then
    log "removing incomplete or broken state $STATE"
    if [[ -d $LOG_DIR ]]; then
      old_logs=$(mktemp -d)
      cp -R "$LOG_DIR" "$old_logs/"
      rm -rf "$old_logs/logs/previous"
    fi
    bash "$here/down.sh" >/dev/null
  fi
  if [[ -n $old_logs ]]; then
    # keep the logs of the broken network for whoever debugs it
    mkdir -p "$LOG_DIR"
    mv "$old_logs/logs" "$LOG_DIR/previous"
    rm -rf "$old_logs"
  fi
  fresh
  log "network up in $(elapsed)s: profile $CONNECTION_PROFILE, env $NETWORK_ENV"
}

main "$@"
