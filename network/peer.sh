#!/usr/bin/env bash
# network/peer.sh ORG [--as USER] [--single-peer] ARGS...
#
# Run the Fabric peer CLI (`peer ARGS...`) against peer0.ORG (ORG: scitech |
# finance) as ORG's admin, or as USER (an identity enrolled under
# network/.state/orgs/ORG/users/USER@ORG, e.g. scitech-admin, finance-clerk;
# also settable as HONGSHAN_PEER_AS=USER).
#
# Convenience: for `chaincode invoke` and `lifecycle chaincode
# approveformyorg|commit` the orderer (-o, --tls, --cafile) is added unless
# given; for `chaincode invoke` and `lifecycle chaincode commit` both bureau
# peers (--peerAddresses/--tlsRootCertFiles) are added unless
# --peerAddresses is given or --single-peer is passed, since the endorsement
# policy needs both bureaus.
#
# Examples:
#   network/peer.sh scitech chaincode query -C hongshan -n hongshan -c '{"Args":["GetPolicy","{}"]}'
#   network/peer.sh scitech --as scitech-admin chaincode invoke -C hongshan -n hongshan --waitForEvent \
#       -c '{"Args":["RegisterAgency","{...}"]}'
#   network/peer.sh finance channel getinfo -c hongshan
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
for f in common cli; do
  # shellcheck disable=SC1090
  source "$here/lib/$f.sh"
done

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

(($# >= 1)) || usage
org=$1; shift
case $org in scitech | finance) ;; -h | --help) usage ;; *) die "unknown org '$org' (scitech | finance)" ;; esac
[[ -d $ORGS_DIR/$org ]] || die "the network is not set up ($STATE): run make network-up"

user=${HONGSHAN_PEER_AS:-Admin}
single=0
while (($#)); do
  case $1 in
    --as) user=$2; shift 2 ;;
    --single-peer) single=1; shift ;;
    *) break ;;
  esac
done

args=("$@")
has() { local a; for a in "${args[@]}"; do [[ $a == "$1" ]] && return 0; done; return 1; }
cmd="${args[*]:0:3}"
needs_orderer=0 needs_peers=0
case $cmd in
  "chaincode invoke"*) needs_orderer=1 needs_peers=1 ;;
  "lifecycle chaincode approveformyorg") needs_orderer=1 ;;
  "lifecycle chaincode commit") needs_orderer=1 needs_peers=1 ;;
esac
if ((needs_orderer)) && ! has -o && ! has --orderer; then
  mapfile -t extra < <(orderer_flags)
  args+=("${extra[@]}")
fi
if ((needs_peers && !single)) && ! has --peerAddresses; then
  mapfile -t extra < <(all_peer_flags)
  args+=("${extra[@]}")
fi

export FABRIC_LOGGING_SPEC=${FABRIC_LOGGING_SPEC:-info}
peer_cli "$org" --as "$user" "${args[@]}"
