#include "appliance.hpp"

#include "signet/core/time.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <sys/stat.h>

namespace signet::test {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::filesystem::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  REQUIRE(out.good());
}

std::filesystem::path source_dir() {
  const char* s = std::getenv("SIGNET_SOURCE_DIR");
  return s != nullptr && *s != '\0' ? std::filesystem::path(s) : std::filesystem::path(SIGNET_DEFAULT_SOURCE_DIR);
}

std::filesystem::path temp_dir(const std::string& prefix) {
  std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
  REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
  return tmpl;
}

namespace {

// Today's UTC date, taken once: an order written twice by a test (signed, then
// signed again to be re-emitted) has the same dates even if the suite runs past
// midnight UTC, and so do the examples and the dates compared with them.
std::chrono::sys_days today() {
  static const auto day = std::chrono::floor<std::chrono::days>(signet::now_utc());
  return day;
}

std::chrono::days examples_shift() { return today() - std::chrono::sys_days{std::chrono::year{2026} / 12 / 4}; }

}  // namespace

std::string date_in(int days) { return signet::format_date(today() + std::chrono::days(days)); }

std::string example_date(const std::string& date) {
  const auto day = date.substr(0, 10);
  const auto t = signet::parse_rfc3339_utc(day);
  INFO(date);
  REQUIRE(t.has_value());
  return signet::format_date(*t + examples_shift()) + date.substr(day.size());
}

std::filesystem::path dated_examples(const std::filesystem::path& into) {
  const std::regex dated(R"re(("(?:starts_at|expires_at)"\s*:\s*")([0-9]{4}-[0-9]{2}-[0-9]{2}))re");
  for (const char* sub : {"orders", "followups"}) {
    std::filesystem::create_directories(into / sub);
    for (const auto& e : std::filesystem::directory_iterator(source_dir() / "docs/examples" / sub)) {
      const auto text = read_file(e.path());
      std::string out;
      std::size_t dates = 0;
      auto last = text.cbegin();
      for (std::sregex_iterator m(text.cbegin(), text.cend(), dated), end; m != end; ++m, ++dates) {
        out.append(last, (*m)[2].first);
        out += example_date((*m)[2].str());
        last = (*m)[2].second;
      }
      out.append(last, text.cend());
      INFO(e.path());
      REQUIRE(dates >= 2);  // an example without dates to move would go stale unnoticed
      write_file(into / sub / e.path().filename(), out);
    }
  }
  return into;
}

TestAppliance::TestAppliance(const std::string& label, bool with_keys)
    : m_hsm(std::make_unique<SoftHsm>(label)), m_dir(temp_dir("signet-appliance")) {
  write_file(m_dir / "pin", m_hsm->user_pin() + "\n");
  std::filesystem::permissions(m_dir / "pin", std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  const auto init = signet({"init", "--module", m_hsm->module_path(), "--token", m_hsm->token_uri(), "--pin-source",
                            "file:pin", "--database", "signet.db"});
  INFO(init.err);
  REQUIRE(init.exit_code == 0);
  if (!with_keys) return;
  auto generate = [&](const std::string& alg, std::string& kid, std::filesystem::path& pem) {
    const auto r = signet({"key", "generate", "--alg", alg, "--label", "license-" + alg, "--json"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    kid = nlohmann::json::parse(r.out).at("key_id").get<std::string>();
    const auto e = signet({"key", "export", kid});
    REQUIRE(e.exit_code == 0);
    pem = m_dir / (alg + ".pem");
    write_file(pem, e.out);
  };
  generate("ed25519", ed_kid, ed_pem);
  generate("rsa2048", rsa_kid, rsa_pem);
  // With two keys active, `sign` without --key needs signing.key (it does not
  // guess); the tests' default is the RSA-2048 key, as an officer would set it.
  auto config = read_file(m_dir / "signet.toml");
  const std::string unset = "\nkey = \"\"\n";
  const auto at = config.find(unset);
  REQUIRE(at != std::string::npos);
  config.replace(at, unset.size(), "\nkey = \"" + rsa_kid + "\"\n");
  write_file(m_dir / "signet.toml", config);
}

TestAppliance::~TestAppliance() noexcept {
  std::error_code ec;
  std::filesystem::remove_all(m_dir, ec);
}

RunResult TestAppliance::signet(const std::vector<std::string>& args, RunOptions options) const {
  if (options.cwd.empty()) options.cwd = m_dir;
  options.env.emplace("SOFTHSM2_CONF", m_hsm->conf_path().string());
  options.env.emplace("SIGNET_CONFIG", (m_dir / "signet.toml").string());
  return test::signet(args, options);
}

RunResult TestAppliance::shell(const std::string& command, RunOptions options) const {
  if (options.cwd.empty()) options.cwd = m_dir;
  options.env.emplace("SOFTHSM2_CONF", m_hsm->conf_path().string());
  options.env.emplace("SIGNET_CONFIG", (m_dir / "signet.toml").string());
  options.env.emplace("SIGNET", signet_binary().string());
  return test::shell(command, options);
}

bool openssl_verifies_license(const std::filesystem::path& license, const std::filesystem::path& pubkey_pem) {
  const auto dir = temp_dir("signet-ossl");
  const auto text = read_file(license);
  bool ok = false;
  if (text.starts_with("-----BEGIN SIGNET LICENSE-----")) {
    // The envelope's fields, decoded with the shell's basenc (base64url), then
    // the message "signet-license-v1\n" || kid || "\n" || payload.
    const auto first_nl = text.find('\n');
    const auto body = text.substr(first_nl + 1, text.find('\n', first_nl + 1) - first_nl - 1);
    const auto env = nlohmann::json::parse(body);
    auto pad = [](std::string s) {
      while (s.size() % 4 != 0) s += '=';
      return s;
    };
    write_file(dir / "payload.b64", pad(env.at("payload").get<std::string>()));
    write_file(dir / "sig.b64", pad(env.at("sig").get<std::string>()));
    write_file(dir / "kid", env.at("kid").get<std::string>());
    const auto r = shell("cd '" + dir.string() + "' && basenc --base64url -d payload.b64 > payload && "
                         "basenc --base64url -d sig.b64 > sig && "
                         "{ printf 'signet-license-v1\\n'; cat kid; printf '\\n'; cat payload; } > msg && "
                         "openssl pkeyutl -verify -pubin -inkey '" + pubkey_pem.string() + "' -rawin -in msg -sigfile sig");
    ok = r.exit_code == 0 && r.out.find("Signature Verified Successfully") != std::string::npos;
  } else {
    const auto r = shell("cd '" + dir.string() + "' && base64 -d '" + license.string() + "' > all && "
                         "head -c -256 all > payload && tail -c 256 all > sig && "
                         "openssl dgst -sha512 -verify '" + pubkey_pem.string() + "' -signature sig payload");
    ok = r.exit_code == 0 && r.out.find("Verified OK") != std::string::npos;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return ok;
}

}  // namespace signet::test
