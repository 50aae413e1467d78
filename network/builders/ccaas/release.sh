#!/usr/bin/env bash
# External builder "release" (hongshan-ccaas): hand the peer the connection
# information of the chaincode server, at chaincode/server/connection.json.
# Args: BUILD_OUTPUT_DIR RELEASE_OUTPUT_DIR.
set -euo pipefail
bld=$1 rel=$2
# state database indexes shipped in the package (META-INF/statedb/...), if any
if [[ -d $bld/META-INF/statedb ]]; then
  mkdir -p "$rel/statedb"
  cp -R "$bld/META-INF/statedb/." "$rel/statedb/"
fi
mkdir -p "$rel/chaincode/server"
cp "$bld/connection.json" "$rel/chaincode/server/connection.json"
