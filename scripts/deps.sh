#!/usr/bin/env bash
# Installs the Debian 12 packages Signet needs, only those missing (idempotent).
# Usage: scripts/deps.sh [build] [test] [bench] [package] [fuzz]
set -euo pipefail

build=(build-essential cmake pkg-config libssl-dev openssl libsodium-dev libp11-kit-dev
       libsqlite3-dev sqlite3 libcli11-dev nlohmann-json3-dev libtomlplusplus-dev
       libhowardhinnant-date-dev softhsm2 opensc)
test=(catch2 faketime strace chromium dpkg-dev file dosfstools fusefat)
bench=(libbenchmark-dev)
package=(dpkg-dev file)
fuzz=(clang libclang-rt-14-dev)

wanted=()
for group in "${@:-build}"; do
  case "$group" in
    build) wanted+=("${build[@]}") ;;
    test) wanted+=("${build[@]}" "${test[@]}") ;;
    bench) wanted+=("${build[@]}" "${bench[@]}") ;;
    package) wanted+=("${build[@]}" "${package[@]}") ;;
    fuzz) wanted+=("${build[@]}" "${test[0]}" "${fuzz[@]}") ;;  # catch2: fuzz.sh builds the tests too
    *) echo "deps.sh: unknown group '$group'" >&2; exit 64 ;;
  esac
done

missing=()
for pkg in "${wanted[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
if ((${#missing[@]} == 0)); then
  echo "deps: all ${#wanted[@]} packages present"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "deps: missing packages: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
  exit 69
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
