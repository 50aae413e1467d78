#!/usr/bin/env bash
# External builder "build" (hongshan-ccaas): nothing to compile, the chaincode
# runs as a service; carry connection.json (and META-INF, if any) to the output.
# Args: CHAINCODE_SOURCE_DIR CHAINCODE_METADATA_DIR BUILD_OUTPUT_DIR.
set -euo pipefail
src=$1 out=$3
if [[ ! -f $src/connection.json ]]; then
  echo "hongshan-ccaas build: connection.json not found in the package's code.tar.gz" >&2
  exit 1
fi
cp "$src/connection.json" "$out/connection.json"
if [[ -d $src/META-INF ]]; then
  cp -R "$src/META-INF" "$out/"
fi
