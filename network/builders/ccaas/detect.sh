#!/usr/bin/env bash
# External builder "detect" (hongshan-ccaas): accept chaincode packages of
# type ccaas. Args: CHAINCODE_SOURCE_DIR CHAINCODE_METADATA_DIR.
set -euo pipefail
meta="$2/metadata.json"
[[ -f $meta ]] || exit 1
# metadata.json is one small JSON object: {"type":"ccaas","label":"..."}
grep -Eqi '"type"[[:space:]]*:[[:space:]]*"ccaas"' "$meta"
