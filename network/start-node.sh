#!/usr/bin/env bash
# network/start-node.sh NAME: start one stopped process of the network again
# from its launch script (network/.state/run/NAME.sh) and wait until it is
# healthy, e.g. orderer2, peer0.finance, chaincode.scitech, ca.finance.
set -euo pipefail
_t0=${EPOCHREALTIME/[.,]/}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
for f in common chaincode; do
  # shellcheck disable=SC1090
  source "$here/lib/$f.sh"
done

(($# == 1)) || die "usage: $0 NAME (one of: ${ALL_NODES[*]})"
node_ok_name "$1" || die "unknown node '$1' (one of: ${ALL_NODES[*]})"
if node_running "$1"; then
  log "$1 is already running"
else
  node_start "$1"
fi
wait_healthy "$1"
if [[ $1 == chaincode.* ]]; then
  sha256sum "$HONGSHAN_CHAINCODE_BIN" | cut -d' ' -f1 >"$(chaincode_sha_file "${1#chaincode.}")"
fi
log "$1 running (pid $(node_pid "$1"))"
