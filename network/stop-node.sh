#!/usr/bin/env bash
# network/stop-node.sh NAME: stop one process of the network (for fault
# tests), e.g. orderer2, peer0.finance, chaincode.scitech, ca.finance.
# network/start-node.sh NAME brings it back.
set -euo pipefail
_t0=${EPOCHREALTIME/[.,]/}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/common.sh
source "$here/lib/common.sh"

(($# == 1)) || die "usage: $0 NAME (one of: ${ALL_NODES[*]})"
node_ok_name "$1" || die "unknown node '$1' (one of: ${ALL_NODES[*]})"
if ! node_running "$1"; then
  log "$1 is not running"
  exit 0
fi
node_stop "$1"
log "$1 stopped"
