// keystore::PublicKey against the OpenSSL command-line tool: keys made by
// `openssl genpkey`, read from PEM and DER, must give OpenSSL's own DER, PEM
// and key id (SHA-256 of the DER), verify OpenSSL's signatures, and refuse
// what is not an Ed25519 or RSA 2048/3072/4096 SubjectPublicKeyInfo.
#include "appliance.hpp"
#include "run.hpp"

#include "signet/core/bytes.hpp"
#include "signet/core/crypto.hpp"
#include "signet/keystore/keys.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

namespace fs = std::filesystem;
using signet::keystore::Algorithm;
using signet::keystore::KeyError;
using signet::keystore::PublicKey;
using signet::test::read_file;
using signet::test::shell;
using signet::test::write_file;

namespace {

struct Made {
  fs::path dir;
  std::string der;     // openssl pkey -pubin -outform DER
  std::string pem;     // openssl pkey -pubin (PEM)
  std::string key_id;  // sha256sum of the DER
};

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

void must(const std::string& command) {
  const auto r = shell(command);
  INFO(command << "\n" << r.err);
  REQUIRE(r.exit_code == 0);
}

Made make_key(const fs::path& dir, const std::string& genpkey_args) {
  fs::create_directories(dir);
  must("openssl genpkey " + genpkey_args + " -out " + q(dir / "key.pem") + " 2>/dev/null");
  must("openssl pkey -in " + q(dir / "key.pem") + " -pubout -out " + q(dir / "pub.pem"));
  must("openssl pkey -pubin -in " + q(dir / "pub.pem") + " -outform DER -out " + q(dir / "pub.der"));
  const auto id = shell("sha256sum " + q(dir / "pub.der") + " | cut -c1-64");
  REQUIRE(id.exit_code == 0);
  return {dir, read_file(dir / "pub.der"), read_file(dir / "pub.pem"), id.out.substr(0, 64)};
}

signet::Bytes bytes(const std::string& s) { return signet::Bytes(s.begin(), s.end()); }

}  // namespace

TEST_CASE("keys made by OpenSSL read back as OpenSSL writes them, and verify its signatures", "[keystore]") {
  const auto dir = signet::test::temp_dir("signet-pubkey");
  struct Case {
    std::string args;
    Algorithm alg;
  };
  const Case cases[] = {{"-algorithm ed25519", Algorithm::ed25519},
                        {"-algorithm RSA -pkeyopt rsa_keygen_bits:2048", Algorithm::rsa2048},
                        {"-algorithm RSA -pkeyopt rsa_keygen_bits:3072", Algorithm::rsa3072},
                        {"-algorithm RSA -pkeyopt rsa_keygen_bits:4096 -pkeyopt rsa_keygen_pubexp:3", Algorithm::rsa4096}};
  int n = 0;
  for (const auto& c : cases) {
    const auto made = make_key(dir / std::to_string(n++), c.args);
    INFO(c.args);
    for (const auto& key : {PublicKey::from_file(made.dir / "pub.pem"), PublicKey::from_file(made.dir / "pub.der"),
                            PublicKey::from_pem(made.pem), PublicKey::from_der(signet::as_bytes(made.der))}) {
      CHECK(key.algorithm() == c.alg);
      CHECK(key.key_id() == made.key_id);
      CHECK(std::string(key.der().begin(), key.der().end()) == made.der);
      CHECK(key.pem() == made.pem);
    }
    // A signature made by OpenSSL verifies; one flipped bit does not.
    write_file(made.dir / "msg", "a license payload");
    if (c.alg == Algorithm::ed25519) {
      must("openssl pkeyutl -sign -rawin -inkey " + q(made.dir / "key.pem") + " -in " + q(made.dir / "msg") +
           " -out " + q(made.dir / "sig"));
    } else {
      must("openssl dgst -sha512 -sign " + q(made.dir / "key.pem") + " -out " + q(made.dir / "sig") + " " +
           q(made.dir / "msg"));
    }
    const auto key = PublicKey::from_pem(made.pem);
    auto sig = bytes(read_file(made.dir / "sig"));
    const auto msg = bytes("a license payload");
    CHECK(key.verify(msg, sig));
    sig[sig.size() / 2] ^= 0x01;
    CHECK_FALSE(key.verify(msg, sig));
  }
  fs::remove_all(dir);
}

TEST_CASE("an encoding that is BER but not DER gives the same key and key id, or is refused", "[keystore]") {
  const auto dir = signet::test::temp_dir("signet-pubkey-ber");
  const auto ed = make_key(dir / "ed", "-algorithm ed25519");
  const auto rsa = make_key(dir / "rsa", "-algorithm RSA -pkeyopt rsa_keygen_bits:2048");
  // The outer SEQUENCE's length in long form (0x81 0x2a for 42; 0x82 0x01 0x22 stays, but
  // 0x83 0x00 0x01 0x22 is one byte longer than needed).
  std::string ed_ber = ed.der;
  ed_ber.replace(0, 2, std::string("\x30\x81\x2a", 3));
  std::string rsa_ber = rsa.der;
  REQUIRE(static_cast<unsigned char>(rsa_ber[1]) == 0x82);
  rsa_ber.replace(0, 4, std::string("\x30\x83\x00", 3) + rsa.der.substr(2, 2));
  for (const auto& [ber, made] : {std::pair{ed_ber, ed}, std::pair{rsa_ber, rsa}}) {
    REQUIRE(ber != made.der);
    try {
      const auto key = PublicKey::from_der(signet::as_bytes(ber));
      CHECK(key.key_id() == made.key_id);
      CHECK(std::string(key.der().begin(), key.der().end()) == made.der);
    } catch (const KeyError& e) {
      CHECK(e.kind() == signet::ErrorKind::bad_data);
    }
  }
  fs::remove_all(dir);
}

TEST_CASE("what is not an Ed25519 or RSA 2048-4096 public key is refused with a reason", "[keystore]") {
  const auto dir = signet::test::temp_dir("signet-pubkey-bad");
  const auto ed = make_key(dir / "ed", "-algorithm ed25519");
  const auto refused = [](auto&& read, const std::string& why) {
    try {
      read();
      FAIL("accepted: " << why);
    } catch (const KeyError& e) {
      CHECK(e.kind() == signet::ErrorKind::bad_data);
      CHECK(std::string(e.what()).find(why) != std::string::npos);
    }
  };
  // Trailing bytes, a truncated key, a prefix of the right kind with the wrong length.
  refused([&] { (void)PublicKey::from_der(signet::as_bytes(ed.der + std::string(1, '\0'))); }, "not a SubjectPublicKeyInfo");
  refused([&] { (void)PublicKey::from_der(signet::as_bytes(ed.der.substr(0, ed.der.size() - 1))); },
          "not a SubjectPublicKeyInfo");
  refused([&] { (void)PublicKey::from_der(signet::ByteView{}); }, "not a SubjectPublicKeyInfo");
  // RSA of 1024 bits, an EC key, an X25519 key.
  const auto small = make_key(dir / "rsa1024", "-algorithm RSA -pkeyopt rsa_keygen_bits:1024");
  refused([&] { (void)PublicKey::from_pem(small.pem); }, "1024 bits");
  const auto ec = make_key(dir / "ec", "-algorithm EC -pkeyopt ec_paramgen_curve:P-256");
  refused([&] { (void)PublicKey::from_pem(ec.pem); }, "unsupported public key type");
  const auto x = make_key(dir / "x25519", "-algorithm X25519");
  refused([&] { (void)PublicKey::from_pem(x.pem); }, "unsupported public key type");
  // Another PEM label, and an "encrypted" block: refused, never prompted for a password.
  must("openssl rsa -pubin -in " + q(small.dir / "pub.pem") + " -RSAPublicKey_out -out " + q(dir / "rsapub.pem") +
       " 2>/dev/null");
  refused([&] { (void)PublicKey::from_pem(read_file(dir / "rsapub.pem")); }, "BEGIN PUBLIC KEY");
  std::string encrypted = ed.pem;
  encrypted.insert(encrypted.find('\n') + 1, "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\n");
  refused([&] { (void)PublicKey::from_pem(encrypted); }, "BEGIN PUBLIC KEY");
  // Two keys in one file (a rotation's old and new key): the second would be
  // ignored unseen, so the file is refused, whichever kind the second block is.
  const auto rsa = make_key(dir / "rsa", "-algorithm RSA -pkeyopt rsa_keygen_bits:2048");
  refused([&] { (void)PublicKey::from_pem(ed.pem + rsa.pem); }, "more than one PEM block");
  refused([&] { (void)PublicKey::from_pem(ed.pem + "\n" + read_file(dir / "rsapub.pem")); }, "more than one PEM block");
  write_file(dir / "two.pem", rsa.pem + ed.pem);
  refused([&] { (void)PublicKey::from_file(dir / "two.pem"); }, "two.pem: holds more than one PEM block");
  fs::remove_all(dir);
}

TEST_CASE("a public key file is read whole up to 64 KiB, and a larger one is refused naming the file",
          "[keystore]") {
  const auto dir = signet::test::temp_dir("signet-pubkey-size");
  const auto made = make_key(dir / "k", "-algorithm ed25519");
  // Text after the PEM block is ignored (as OpenSSL does); the file is read
  // in pieces, so a block that ends past the first pieces must still be found.
  constexpr std::size_t kLimit = 64 * 1024;
  write_file(dir / "padded.pem", std::string(kLimit - made.pem.size(), '\n') + made.pem);
  CHECK(PublicKey::from_file(dir / "padded.pem").key_id() == made.key_id);
  write_file(dir / "over.pem", std::string(kLimit + 1 - made.pem.size(), '\n') + made.pem);
  try {
    (void)PublicKey::from_file(dir / "over.pem");
    FAIL("a key file of 64 KiB + 1 bytes was read");
  } catch (const KeyError& e) {
    CHECK(e.kind() == signet::ErrorKind::bad_data);
    CHECK_THAT(e.what(), Catch::Contains("over.pem") && Catch::Contains("larger than 64 KiB"));
  }
  // An empty file and a missing one are refused, each with its own reason.
  write_file(dir / "empty.pem", "");
  CHECK_THROWS_WITH(PublicKey::from_file(dir / "empty.pem"), Catch::Contains("empty.pem"));
  CHECK_THROWS_WITH(PublicKey::from_file(dir / "missing.pem"),
                    Catch::Contains("cannot read public key file"));
  fs::remove_all(dir);
}
