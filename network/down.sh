#!/usr/bin/env bash
# network/down.sh (make network-down): stop every process network/up.sh
# started (by the pids in network/.state/pids/), wait for them to exit, and
# remove the network's state (ledgers, identities, logs).
#
#   --keep-state   stop the processes but keep network/.state (logs, ledgers);
#                  `make network-up` then restarts them.
set -euo pipefail

_t0=${EPOCHREALTIME/[.,]/}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/common.sh
source "$here/lib/common.sh"

take_lock
keep_state=0
case ${1:-} in
  --keep-state) keep_state=1 ;;
  '') ;;
  *) die "usage: $0 [--keep-state]" ;;
esac

# stop_group NAME...: stop the given nodes in parallel.
stop_group() {
  local n pids=()
  for n in "$@"; do
    node_stop "$n" &
    pids+=($!)
  done
  for n in "${pids[@]}"; do wait "$n" || true; done
}

# Processes carrying this state's marker whose pid file was lost.
stray_pids() {
  local p
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [[ $p == "$$" || $p == "$BASHPID" ]] && continue
    { tr '\0' '\n' <"/proc/$p/environ"; } 2>/dev/null | grep -qxF "HONGSHAN_NODE_STATE=$STATE" && echo "$p"
  done
  return 0
}

if [[ -d $STATE ]]; then
  stop_group chaincode.scitech chaincode.finance
  stop_group peer0.scitech peer0.finance
  stop_group orderer1 orderer2 orderer3
  stop_group ca.orderer ca.scitech ca.finance
fi

strays=$(stray_pids)
if [[ -n $strays ]]; then
  log "stopping leftover processes of this network: ${strays//$'\n'/ }"
  # shellcheck disable=SC2086
  kill -TERM $strays 2>/dev/null || true
  for ((i = 0; i < HONGSHAN_STOP_TIMEOUT * 10; i++)); do
    [[ -z $(stray_pids) ]] && break
    sleep 0.1
  done
  strays=$(stray_pids)
  # shellcheck disable=SC2086
  [[ -z $strays ]] || kill -KILL $strays 2>/dev/null || true
fi

if ((keep_state)); then
  log "network stopped; state kept in $STATE"
else
  rm -rf "$STATE"
  log "network down, state removed ($(elapsed)s)"
fi
