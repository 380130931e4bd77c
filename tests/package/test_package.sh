#!/usr/bin/env bash
# The Debian package: built with CPack, unpacked into a throwaway root (dpkg -x),
# and run from there. Usage: test_package.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d /tmp/signet-package-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

(cd "$build" && cpack -G DEB -B "$tmp/cpack" >/dev/null)
deb=$(ls "$tmp"/cpack/signet_*.deb)
echo "built $(basename "$deb")"
dpkg-deb --info "$deb" >/dev/null || fail "dpkg-deb cannot read the package"
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
# OpenSSL (libssl3 ships libcrypto) and p11-kit (opened with dlopen, so named in
# packaging/CMakeLists.txt) are shared; SQLite, libsodium and libstdc++ are
# linked into the binary (cmake/Dependencies.cmake).
for lib in libp11-kit0 libssl3 libc6; do
  [[ "$depends" == *"$lib"* ]] || fail "Depends lacks $lib (apt would not pull it on a clean machine)"
done

dpkg -x "$deb" "$tmp/root"
bin="$tmp/root/usr/bin/signet"
[ -x "$bin" ] || fail "no usr/bin/signet in the package"
[ -f "$tmp/root/usr/share/man/man1/signet.1" ] || fail "no man page"
[ -f "$tmp/root/usr/share/bash-completion/completions/signet" ] || fail "no bash completion"
[ -f "$tmp/root/usr/share/doc/signet/examples/signet.toml" ] || fail "no example signet.toml"
[ -f "$tmp/root/usr/share/doc/signet/audit-format.md" ] || fail "no docs"
man -l "$tmp/root/usr/share/man/man1/signet.1" >/dev/null 2>&1 || groff -man -Tutf8 "$tmp/root/usr/share/man/man1/signet.1" >/dev/null 2>&1 || true

version=$("$bin" --version)
[[ "$version" == "signet "* ]] || fail "signet --version printed '$version'"
echo "$version"
vec="$src/tests/fixtures/product-server"
"$bin" verify "$vec/mm_test_license.txt" --pubkey "$vec/mm_test_pubkey.pem" > "$tmp/verify.txt" ||
  fail "the packaged signet does not verify the vendor's license"
grep -q zogw65n8gifj5dlrha8mbu1piw "$tmp/verify.txt" || fail "verify did not show the license id"
if "$bin" verify "$vec/mm_test_license.txt" --pubkey "$src/tests/fixtures/product-server/mm_test_license.txt" 2>/dev/null; then
  fail "verify accepted a license with a file that is not a key"
fi
echo "package OK"
