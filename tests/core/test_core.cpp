#include "signet/core/bytes.hpp"
#include "signet/core/crypto.hpp"
#include "signet/core/json.hpp"
#include "signet/core/openssl.hpp"
#include "signet/core/sqlite.hpp"
#include "signet/core/time.hpp"

#include <catch2/catch.hpp>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>
#include <sys/stat.h>
#include <unistd.h>

using namespace signet;

TEST_CASE("hex round-trips and refuses malformed text", "[core][bytes]") {
  const Bytes data{0x00, 0x01, 0xab, 0xff};
  CHECK(to_hex(data) == "0001abff");
  CHECK(from_hex("0001ABff") == data);
  CHECK_FALSE(from_hex("abc"));
  CHECK_FALSE(from_hex("zz"));
}

TEST_CASE("base64 matches RFC 4648 test vectors and is strict", "[core][bytes]") {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    CHECK(base64_encode(as_bytes(plain)) == encoded);
    CHECK(base64_decode(encoded) == to_bytes(plain));
  }
  CHECK(base64_decode("Zm9v\nYmFy\r\n") == to_bytes("foobar"));
  CHECK(base64_decode("Zm9v\rYmFy\r") == to_bytes("foobar"));  // a lone \r too, as Go skips it
  CHECK_FALSE(base64_decode("Zm9v\tYmFy").has_value());
  CHECK_FALSE(base64_decode("Zm9v YmFy"));   // white space other than line breaks
  CHECK_FALSE(base64_decode("Zm9vYg="));     // bad padding length
  CHECK_FALSE(base64_decode("Zm9vYh=="));    // non-zero trailing bits
  CHECK_FALSE(base64_decode("Zm9vYmG="));
  // ... which Go's non-strict decoder, and so the product server, ignores.
  CHECK(base64_decode("Zm9vYh==", Base64Bits::any) == to_bytes("foob"));
  CHECK(base64_decode("Zm9vYmF=", Base64Bits::any) == to_bytes("fooba"));
  CHECK(base64_decode("Zm9vYmG=", Base64Bits::any) == to_bytes("fooba"));
  CHECK(base64_decode("Zm9vYmFy", Base64Bits::any) == to_bytes("foobar"));
  CHECK_FALSE(base64_decode("Zm9vYh=", Base64Bits::any));  // the rest stays strict
  CHECK_FALSE(base64_decode("Zm=vYg==", Base64Bits::any));
  CHECK_FALSE(base64_decode("Zm9v YmFy", Base64Bits::any));
  CHECK_FALSE(base64_decode("Zm=vYg=="));    // padding in the middle
  CHECK_FALSE(base64_decode("Zm9v-_=="));    // url alphabet
}

TEST_CASE("base64url is unpadded and strict", "[core][bytes]") {
  const Bytes data{0xfb, 0xff, 0xfe};
  CHECK(base64url_encode(data) == "-__-");
  CHECK(base64url_encode(as_bytes("fo")) == "Zm8");
  CHECK(base64url_decode("Zm8") == to_bytes("fo"));
  CHECK_FALSE(base64url_decode("Zm8="));
  CHECK_FALSE(base64url_decode("Zm9"));  // non-canonical trailing bits
  CHECK_FALSE(base64url_decode("Z"));
}

TEST_CASE("SHA-256 and SHA-512 match the FIPS 180 'abc' vectors", "[core][crypto]") {
  CHECK(to_hex(sha256(as_bytes("abc"))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(to_hex(sha512(as_bytes("abc"))).substr(0, 32) == "ddaf35a193617abacc417349ae204131");
  Sha256 incremental;
  incremental.update("a").update("bc");
  CHECK(incremental.finish() == sha256(as_bytes("abc")));
  incremental.update("abc");
  CHECK(incremental.finish() == sha256(as_bytes("abc")));  // finish() resets
}

TEST_CASE("a secret buffer is bounded, trims newlines and wipes", "[core][crypto]") {
  SecretBuffer pin(4);
  for (const char c : std::string("12\n")) pin.push_back(static_cast<std::uint8_t>(c));
  pin.trim_newline();
  CHECK(pin.size() == 2);
  pin.push_back('3');
  pin.push_back('4');
  CHECK_THROWS_AS(pin.push_back('5'), Error);
  SecretBuffer moved = std::move(pin);
  CHECK(moved.size() == 4);
  moved.clear();
  CHECK(moved.empty());
  CHECK(moved.data()[0] == 0);
}

TEST_CASE("canonical JSON sorts keys by bytes, is compact and refuses floats", "[core][json]") {
  const Json value = Json::parse(R"({"b":1,"a":{"z":[1,2,{"y":null,"x":true}],"é":"\u0001"},"B":"x"})");
  CHECK(canonical_json(value) == "{\"B\":\"x\",\"a\":{\"z\":[1,2,{\"x\":true,\"y\":null}],\"é\":\"\\u0001\"},\"b\":1}");
  CHECK_THROWS_AS(canonical_json(Json::parse(R"({"a":1.5})")), Error);
  CHECK_THROWS_AS(canonical_json(Json(std::string("\xff"))), Error);
}

TEST_CASE("RFC 3339 dates and UTC date-times parse; others are refused", "[core][time]") {
  CHECK(to_unix_ms(*parse_rfc3339_utc("1970-01-02")) == 86'400'000);
  CHECK(to_unix_ms(*parse_rfc3339_utc("2026-11-22T13:45:00Z")) == 1'795'355'100'000);
  CHECK(to_unix_ms(*parse_rfc3339_utc("2026-11-22T13:45:00.25Z")) == 1'795'355'100'250);
  CHECK(to_unix_ms(*parse_rfc3339_utc("2026-11-22T13:45:00+00:00")) == 1'795'355'100'000);
  CHECK(parse_rfc3339_utc("2024-02-29"));
  for (const char* bad : {"2023-02-29", "2026-13-01", "2026-11-22T24:00:00Z", "2026-11-22T13:45:00+01:00",
                          "2026-11-22T13:45:00", "2026-11-22 13:45:00Z", "2026-11-22Z", "26-11-22", "",
                          "2026-11-22T13:45:00.Z", "2026-11-22T13:45:60Z"}) {
    INFO(bad);
    CHECK_FALSE(parse_rfc3339_utc(bad));
  }
  const auto t = *parse_rfc3339_utc("2026-01-31T12:00:00.250Z");
  CHECK(format_rfc3339(t) == "2026-01-31T12:00:00.250Z");
  CHECK(format_date(t) == "2026-01-31");
}

TEST_CASE("SQLite wrapper creates owner-only files and rolls back unfinished transactions", "[core][sqlite]") {
  char tmpl[] = "/tmp/signet-core-XXXXXX";
  const std::filesystem::path dir = ::mkdtemp(tmpl);
  const auto path = dir / "t.db";
  {
    auto db = Database::open(path, Database::Mode::create);
    db.exec("CREATE TABLE t (a INTEGER, b TEXT)");
    {
      Transaction tx(db);
      db.prepare("INSERT INTO t VALUES (?1, ?2)").bind(1, std::int64_t{1}).bind(2, "one").run();
    }  // not committed: rolled back
    Transaction tx(db);
    db.prepare("INSERT INTO t VALUES (?1, ?2)").bind(1, std::int64_t{2}).bind(2, "two").run();
    tx.commit();
    auto st = db.prepare("SELECT a, b FROM t");
    REQUIRE(st.step());
    CHECK(st.column_int(0) == 2);
    CHECK(st.column_text(1) == "two");
    CHECK_FALSE(st.step());
  }
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0600);
  CHECK_THROWS_AS(Database::open(dir / "missing.db", Database::Mode::read_only), SqliteError);
  {
    auto ro = Database::open(path, Database::Mode::read_only);
    CHECK_THROWS_AS(ro.exec("INSERT INTO t VALUES (3, 'x')"), SqliteError);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("a JSON string appended in parts is exactly what canonical JSON writes", "[core][json]") {
  // Every ASCII byte alone and between letters, then UTF-8 and an invalid byte.
  for (int c = 0; c < 0x80; ++c) {
    for (const auto& text : {std::string(1, static_cast<char>(c)), "a" + std::string(1, static_cast<char>(c)) + "b"}) {
      std::string out = "x";
      append_json_string(out, text);
      INFO(c);
      CHECK(out == "x" + canonical_json(Json(text)));
    }
  }
  for (const std::string text : {"", "Zoë \"Ünal\"\n", "日本語\t\\", "plain"}) {
    std::string out;
    append_json_string(out, text);
    CHECK(out == canonical_json(Json(text)));
  }
  std::string out;
  CHECK_THROWS_AS(append_json_string(out, "bad \xff byte"), Error);
}

TEST_CASE("cached statements are reused, reset when given back, and nest", "[core][sqlite]") {
  char tmpl[] = "/tmp/signet-core-XXXXXX";
  const std::filesystem::path dir = ::mkdtemp(tmpl);
  {
    auto db = Database::open(dir / "t.db", Database::Mode::create);
    db.exec("CREATE TABLE t (a INTEGER)");
    for (std::int64_t i = 1; i <= 3; ++i) {
      auto ins = db.prepare_cached("INSERT INTO t VALUES (?)");
      ins->bind(1, i).run();
    }
    const char* sql = "SELECT a FROM t WHERE a >= ? ORDER BY a";
    std::vector<std::int64_t> pairs;
    {
      auto outer = db.prepare_cached(sql);
      outer->bind(1, std::int64_t{2});
      while (outer->step()) {
        // The same SQL while the first is still stepping: a statement of its own.
        auto inner = db.prepare_cached(sql);
        inner->bind(1, outer->column_int(0));
        REQUIRE(inner->step());
        pairs.push_back(outer->column_int(0) * 10 + inner->column_int(0));
      }
    }
    CHECK(pairs == std::vector<std::int64_t>{22, 33});
    // Given back reset: bindings cleared, stepping starts over.
    auto again = db.prepare_cached(sql);
    again->bind(1, std::int64_t{1});
    REQUIRE(again->step());
    CHECK(again->column_int(0) == 1);
    // A moved database keeps its cache working, and a statement still lent
    // out when its database closes is finalized, not given back.
    std::optional<Database> moved(std::move(db));
    auto count = moved->prepare_cached("SELECT COUNT(*) FROM t");
    REQUIRE(count->step());
    CHECK(count->column_int(0) == 3);
    moved.reset();
  }
  std::filesystem::remove_all(dir);
}

namespace {
// The calling thread's default OpenSSL library context (OSSL_LIB_CTX_set0_default(NULL) changes nothing).
OSSL_LIB_CTX* current_context() { return ::OSSL_LIB_CTX_set0_default(nullptr); }
}  // namespace

TEST_CASE("a thread's own OpenSSL context is its default while the scope lasts, per slot",
          "[core][openssl]") {
  OSSL_LIB_CTX* const global = ::OSSL_LIB_CTX_get0_global_default();
  REQUIRE(current_context() == global);
  OSSL_LIB_CTX* first = nullptr;
  {
    const openssl::ThreadContextScope scope(0);
    first = current_context();
    CHECK(first != global);
    // Algorithms are there: the configuration's providers, or the default one.
    EVP_MD* md = ::EVP_MD_fetch(nullptr, "SHA256", nullptr);
    REQUIRE(md != nullptr);
    CHECK(::EVP_MD_get0_provider(md) != nullptr);
    ::EVP_MD_free(md);
    CHECK(sha256(as_bytes("abc"))[0] == 0xba);
    {
      const openssl::ThreadContextScope inner(1);
      CHECK(current_context() != first);
      CHECK(current_context() != global);
    }
    CHECK(current_context() == first);  // the inner scope restored the outer one
  }
  CHECK(current_context() == global);
  {
    const openssl::ThreadContextScope again(0);
    CHECK(current_context() == first);  // a slot keeps its context
  }
  // Another thread's default is its own business: a scope there leaves this one alone.
  OSSL_LIB_CTX* seen = nullptr;
  std::thread([&] {
    const openssl::ThreadContextScope scope(0);
    seen = current_context();
  }).join();
  CHECK(seen == first);
  CHECK(current_context() == global);
}

TEST_CASE("a thread's own OpenSSL context is configured as the default one is (OPENSSL_CONF)",
          "[core][openssl]") {
  // A configuration whose default properties no provider has: a context that
  // loaded it fetches nothing, one that did not fetches SHA-256.
  char tmpl[] = "/tmp/signet-core-XXXXXX";
  const std::filesystem::path dir = ::mkdtemp(tmpl);
  const auto conf = dir / "openssl.cnf";
  std::ofstream(conf) << "openssl_conf = openssl_init\n[openssl_init]\nalg_section = algorithm_sect\n"
                         "[algorithm_sect]\ndefault_properties = provider=signet-test-none\n";
  const auto fetches_sha256 = [] {
    EVP_MD* md = ::EVP_MD_fetch(nullptr, "SHA256", nullptr);
    ::EVP_MD_free(md);
    return md != nullptr;
  };
  const char* old = std::getenv("OPENSSL_CONF");
  const std::optional<std::string> saved = old ? std::optional<std::string>(old) : std::nullopt;
  ::setenv("OPENSSL_CONF", conf.c_str(), 1);
  bool configured_fetch = true;
  {
    const openssl::ThreadContextScope scope(7);  // a slot no other test makes
    configured_fetch = fetches_sha256();
  }
  if (saved) ::setenv("OPENSSL_CONF", saved->c_str(), 1);
  else ::unsetenv("OPENSSL_CONF");
  std::filesystem::remove_all(dir);
  CHECK_FALSE(configured_fetch);
  CHECK(fetches_sha256());  // the default context, configured at start-up, is untouched
  {
    const openssl::ThreadContextScope scope(0);
    CHECK(fetches_sha256());
  }
}
