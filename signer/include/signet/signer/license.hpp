// License payloads and their two encodings (docs/formats.md):
//  - mattermost: base64(payload_json || RSASSA-PKCS1-v1_5-SHA512 signature), the
//    product server's own format; the server strips trailing 0x00 bytes before
//    taking the last 256 bytes as the signature, so a signature ending in 0x00
//    is never issued: the payload is changed (issued_at + 1 ms) and re-signed.
//  - signet: an armored JSON envelope {v, alg, kid, payload, sig}; the signature
//    covers "signet-license-v1\n" || kid || "\n" || payload_json.
// Thread-safe (no state).
#pragma once

#include "signet/core/json.hpp"
#include "signet/core/time.hpp"
#include "signet/keystore/keys.hpp"
#include "signet/signer/manifest.hpp"

#include <optional>
#include <string>

namespace signet {

// A malformed license file, or one the product would refuse to read.
class LicenseError : public Error {
 public:
  using Error::Error;
};

enum class Encoding { mattermost, signet };
std::string_view to_string(Encoding e) noexcept;
std::optional<Encoding> parse_encoding(std::string_view text) noexcept;

inline constexpr std::size_t kLicenseIdChars = 26;
inline constexpr std::size_t kMattermostSignatureBytes = 256;
inline constexpr std::size_t kMaxEncodedLicenseBytes = 10'000;
inline constexpr std::size_t kMaxLicenseFileBytes = 64U << 10U;  // what decode_license() reads at most
inline constexpr std::string_view kLicenseDomain = "signet-license-v1\n";
inline constexpr std::string_view kArmorBegin = "-----BEGIN SIGNET LICENSE-----";
inline constexpr std::string_view kArmorEnd = "-----END SIGNET LICENSE-----";

// 26 random characters of [a-z0-9] (libsodium randombytes_uniform).
std::string new_license_id();

// Everything a license states.
struct Terms {
  std::string license_id;
  TimePoint issued_at, starts_at, expires_at;
  Customer customer;
  std::string sku;
  std::int64_t users = 0;
  std::map<std::string, bool> features;  // every flag of feature_names()
  bool trial = false, government = false, non_production = false;
  std::optional<std::string> deployment_id;
};

// The payload object the product reads.
Json payload_json(const Terms& terms);
// The same payload as canonical JSON text (canonical_json(payload_json(terms))),
// written directly: these are the bytes that are signed.
std::string payload_text(const Terms& terms);

struct SignedLicense {
  std::string payload;     // the exact signed payload bytes (canonical JSON)
  std::string encoded;     // the license file's bytes
  std::string license_id;  // the payload's id
  TimePoint issued_at;     // the payload's issued_at (later than asked when re-signed)
  int resigned = 0;        // times the payload was changed because the signature ended in 0x00
};

// Signs the terms' payload with the key in the encoding; for mattermost, bumps
// issued_at by 1 ms and re-signs while the signature ends in 0x00.
// LicenseError(bad_data) when the encoded license would reach 10,000 bytes;
// Error(config) when mattermost is asked of a key that is not RSA-2048.
SignedLicense sign_license(Terms terms, Encoding encoding, keystore::SigningKey& key);

// The message a signet-encoding signature covers.
std::string signet_license_message(std::string_view kid, std::string_view payload);
std::string encode_mattermost(std::string_view payload, ByteView signature);
std::string encode_signet(const std::string& kid, keystore::Algorithm alg, std::string_view payload, ByteView signature);

// A license file taken apart (not yet verified).
struct DecodedLicense {
  Encoding encoding = Encoding::mattermost;
  std::string payload;  // exact bytes
  Json payload_json;
  Bytes signature;
  std::string kid;  // signet encoding only
  std::string alg;  // signet encoding only
};

// Recognises the encoding and splits payload and signature exactly as the
// verifier of that encoding does, without reading the payload (payload_json
// stays null); LicenseError(bad_data) saying why when the file is malformed.
DecodedLicense split_license(std::string_view file_content);
// Reads a split license's payload into payload_json: a JSON object, parsed
// strictly (no key twice, strict UTF-8, depth 32, no byte order mark); the
// problem (starting "payload: ") when it is not one.
std::optional<std::string> parse_payload(DecodedLicense& license);
// split_license, then parse_payload; LicenseError(bad_data) saying why when
// either finds the file malformed.
DecodedLicense decode_license(std::string_view file_content);

// The signature check alone; true when it holds.
[[nodiscard]] bool verify_license(const DecodedLicense& license, const keystore::PublicKey& key);

// One reason the product server would refuse a license: the field as a JSON
// pointer ("" for the file as a whole) and the rule it breaks.
struct ProductServerProblem {
  std::string pointer;
  std::string rule;
  [[nodiscard]] std::string text() const;  // "/features/users must be an integer"
};

// What the product server would refuse in a license whose signature holds:
// the payload's shape as Go's json.Unmarshal into its model.License needs it
// (types, required fields, names matched without regard to case), a license id
// of 26 letters and digits, and (mattermost encoding) a file of at most 10,000
// bytes. Empty when the server would take it. `file_bytes`: the file's size.
std::vector<ProductServerProblem> product_server_problems(const DecodedLicense& license, std::size_t file_bytes);

}  // namespace signet
