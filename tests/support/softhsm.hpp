// A SoftHSM2 token in a temporary folder of its own, for tests. The constructor
// does what one would type in a shell:
//
//   dir=$(mktemp -d /tmp/signet-softhsm-XXXXXX) && mkdir -m 700 "$dir/tokens"
//   echo "directories.tokendir = $dir/tokens" >"$dir/softhsm2.conf"
//   echo "objectstore.backend = file" >>"$dir/softhsm2.conf"
//   echo "log.level = ERROR" >>"$dir/softhsm2.conf"
//   export SOFTHSM2_CONF="$dir/softhsm2.conf"
//   softhsm2-util --init-token --free --label "$label" --so-pin 12345678 --pin 1234
//
// and the destructor removes the folder.
//
// SoftHSM2 reads SOFTHSM2_CONF in C_Initialize only, and its state is one per
// process: a Module loaded after activate() sees this instance's token (and no
// other) until the last Module of the process is destroyed (C_Finalize). A test
// that uses a fresh instance must therefore hold no Module of another instance.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace signet::test {

class SoftHsm {
 public:
  // Creates the folder, the configuration and an initialised token labelled
  // `label` (at most 32 bytes), and makes it the active one (activate()).
  // Throws std::runtime_error, with softhsm2-util's output, when that fails.
  explicit SoftHsm(std::string label);
  // Removes the folder; restores the SOFTHSM2_CONF seen at construction if this
  // instance is still the active one.
  ~SoftHsm() noexcept;
  SoftHsm(const SoftHsm&) = delete;  // owns the folder
  SoftHsm& operator=(const SoftHsm&) = delete;
  SoftHsm(SoftHsm&&) = delete;
  SoftHsm& operator=(SoftHsm&&) = delete;

  // The process-wide token (label "signet-test"), created on first use; every
  // call also makes it the active one.
  static SoftHsm& shared();

  // setenv("SOFTHSM2_CONF", conf_path()): the next C_Initialize uses this token.
  void activate() const;

  [[nodiscard]] std::string module_path() const { return "/usr/lib/softhsm/libsofthsm2.so"; }
  [[nodiscard]] const std::string& token_label() const noexcept { return m_label; }
  [[nodiscard]] std::string user_pin() const { return "1234"; }
  [[nodiscard]] std::string so_pin() const { return "12345678"; }
  [[nodiscard]] const std::filesystem::path& dir() const noexcept { return m_dir; }
  [[nodiscard]] std::filesystem::path conf_path() const { return m_dir / "softhsm2.conf"; }
  // "pkcs11:token=<label, percent-encoded>".
  [[nodiscard]] std::string token_uri() const;

 private:
  std::string m_label;
  std::filesystem::path m_dir;
  std::optional<std::string> m_previous_conf;  // SOFTHSM2_CONF before construction
};

}  // namespace signet::test
