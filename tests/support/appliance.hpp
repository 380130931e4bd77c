// A complete appliance for end-to-end tests: its own SoftHSM2 token, a PIN file
// (mode 0600), `signet init`, an Ed25519 and an RSA-2048 key generated in the
// token and their public keys exported as PEM. Every command runs the real
// signet binary with SOFTHSM2_CONF and SIGNET_CONFIG pointing into the folder.
#pragma once

#include "run.hpp"
#include "softhsm.hpp"

#include <filesystem>
#include <memory>
#include <string>

namespace signet::test {

class TestAppliance {
 public:
  // `with_keys`: generate the two keys (most tests want them).
  explicit TestAppliance(const std::string& label = "signet-e2e", bool with_keys = true);
  ~TestAppliance() noexcept;
  TestAppliance(const TestAppliance&) = delete;  // owns a token and a folder
  TestAppliance& operator=(const TestAppliance&) = delete;

  // Runs signet in the appliance folder with its environment.
  RunResult signet(const std::vector<std::string>& args, RunOptions options = {}) const;
  // Runs a shell command in the appliance folder with its environment; REQUIREs nothing.
  RunResult shell(const std::string& command, RunOptions options = {}) const;

  [[nodiscard]] const std::filesystem::path& dir() const noexcept { return m_dir; }
  [[nodiscard]] std::filesystem::path db() const { return m_dir / "signet.db"; }
  [[nodiscard]] std::filesystem::path config() const { return m_dir / "signet.toml"; }
  [[nodiscard]] const SoftHsm& hsm() const noexcept { return *m_hsm; }
  std::string ed_kid, rsa_kid;
  std::filesystem::path ed_pem, rsa_pem;

 private:
  std::unique_ptr<SoftHsm> m_hsm;
  std::filesystem::path m_dir;
};

// Reads a whole file (REQUIREs that it exists).
std::string read_file(const std::filesystem::path& path);
void write_file(const std::filesystem::path& path, const std::string& content);
// The source tree (SIGNET_SOURCE_DIR).
std::filesystem::path source_dir();
// A fresh temporary folder, removed by the caller (or left for inspection on failure).
std::filesystem::path temp_dir(const std::string& prefix);

// The UTC date `days` from today ("2027-01-31"; today is taken once per test
// process). Orders are dated with it: what Signet decides depends on the clock
// (a follow-up needs a live or just-expired license, verify and the report look
// at the expiry), and so the suite passes on any day.
std::string date_in(int days);

// The examples of docs/examples (orders/ and followups/) copied into `into`
// with every starts_at and expires_at moved by the days from 2026-12-04, the
// day they were written for, to today: they stand to the clock as they did
// then (started, the trial ending within 60 days, every follow-up's license
// live). The rest of each file is kept byte for byte. Returns `into`.
std::filesystem::path dated_examples(const std::filesystem::path& into);
// A date of the examples ("2027-10-15", or a date-time) moved as dated_examples moves theirs.
std::string example_date(const std::string& date);

// Independent checks of a license file's signature with the OpenSSL command-line tool:
// mattermost: base64 -d, split the last 256 bytes, openssl dgst -sha512 -verify;
// signet: the envelope's payload and sig, openssl pkeyutl -verify -rawin over the
// domain-separated message. True when OpenSSL says "Verified OK" / "Signature Verified Successfully".
bool openssl_verifies_license(const std::filesystem::path& license, const std::filesystem::path& pubkey_pem);

}  // namespace signet::test
