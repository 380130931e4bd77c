#!/usr/bin/env bash
# The main job end to end on the embedded default: a SoftHSM2 token in a
# project-local folder (its own SOFTHSM2_CONF; nothing written outside the
# checkout), `signet init`, an Ed25519 and an RSA-2048 key generated in the token,
# the example orders of docs/examples signed, every license verified, the audit
# log verified. Idempotent: each run starts from a fresh .demo/ folder.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
signet=$(realpath "${1:-$here/build/signer/signet}")
demo="$here/.demo"

step() { printf '\n== %s\n' "$*"; }

rm -rf "$demo"
mkdir -p "$demo/tokens" "$demo/keys"
cat >"$demo/softhsm2.conf" <<CONF
directories.tokendir = $demo/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
export SOFTHSM2_CONF="$demo/softhsm2.conf"

step "Token: a SoftHSM2 token in $demo/tokens"
# Demo PINs only: a real ceremony reads them from the officers, never from a script.
umask 077
head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$demo/pin"
so_pin=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
softhsm2-util --init-token --free --label signet-demo --so-pin "$so_pin" --pin "$(cat "$demo/pin")" | sed 's/^/   /'
umask 022

cd "$demo"
step "signet init"
"$signet" init --module /usr/lib/softhsm/libsofthsm2.so --token "pkcs11:token=signet-demo" --pin-source file:pin

step "signet key generate (inside the token)"
key_id() { sed -n 's/.*"key_id": *"\([0-9a-f]\{64\}\)".*/\1/p' | head -n1; }
ed_kid=$("$signet" key generate --alg ed25519 --label license-ed25519 --json | key_id)
rsa_kid=$("$signet" key generate --alg rsa2048 --label license-rsa2048 --json | key_id)
echo "   ed25519 key $ed_kid"
echo "   rsa2048 key $rsa_kid"

step "signet key list"
"$signet" key list
"$signet" key export "$ed_kid" --format pem >keys/ed25519.pem
"$signet" key export "$rsa_kid" --format pem >keys/rsa2048.pem
step "public keys exported to $demo/keys (the hand-off to the product)"
cat keys/rsa2048.pem

# The examples were written on 2026-12-04, and what Signet decides depends on
# the clock (a true_forward needs a live license, a renewal one within its grace
# period, verify a license not past it). The demo signs copies of them with
# every starts_at and expires_at moved by the days since then, so that they
# stand to today as they stood to that day; nothing else in them changes.
dated_examples() {
  local sub=$1 shift_days f out d i
  shift_days=$(( ($(date -u +%s) - $(date -u -d 2026-12-04 +%s)) / 86400 ))
  mkdir -p "examples/$sub"
  for f in "$here/docs/examples/$sub"/*; do
    out="examples/$sub/$(basename "$f")"
    cp "$f" "$out"
    local dates=()
    mapfile -t dates < <(grep -oE '"(starts_at|expires_at)" *: *"[0-9]{4}-[0-9]{2}-[0-9]{2}' "$f" |
                         grep -oE '[0-9]{4}-[0-9]{2}-[0-9]{2}$' | sort -u)
    # Through placeholders, so that a date moved onto another is not moved twice.
    for i in "${!dates[@]}"; do
      sed -i -E "s/(\"(starts_at|expires_at)\" *: *\")${dates[$i]}/\1@date$i@/g" "$out"
    done
    for i in "${!dates[@]}"; do
      d=$(date -u -d "${dates[$i]} + $shift_days days" +%F)
      sed -i "s/@date$i@/$d/g" "$out"
    done
  done
}

if [[ -d "$here/docs/examples" ]] && "$signet" sign --help >/dev/null 2>&1; then
  dated_examples orders
  step "signet sign: the example orders (RSA-2048, the product's own license format)"
  "$signet" sign examples/orders --out licenses --key "$rsa_kid" --format mattermost
  if [[ -d "$here/docs/examples/followups" ]]; then
    dated_examples followups
    step "signet sign: renewals, true-forwards and reissues of those licenses"
    "$signet" sign examples/followups --out licenses --key "$rsa_kid" --format mattermost
  fi
  step "signet sign again: nothing new is issued, the files are re-emitted byte for byte"
  "$signet" sign examples/orders --out licenses --key "$rsa_kid" --format mattermost
  step "signet verify: every license with the exported public key"
  for f in licenses/*.license; do
    "$signet" verify "$f" --pubkey keys/rsa2048.pem >/dev/null && echo "   ok  $f"
  done
  "$signet" verify "$(ls licenses/*.license | head -n1)" --pubkey keys/rsa2048.pem
fi

if "$signet" audit verify --help >/dev/null 2>&1; then
  step "signet audit verify: read-only, no HSM, no PIN, keys given out of band"
  "$signet" audit verify --db signet.db --pubkey keys/ed25519.pem --pubkey keys/rsa2048.pem
fi

step "done: everything is in $demo"
