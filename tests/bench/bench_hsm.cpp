// The token's own limit: C_Sign throughput (C_SignInit + single-part C_Sign on a
// session from the pool, as Signet signs) with the appliance's own keys, one
// session and one session per thread, each thread in an OpenSSL library context
// of its own as Signet's signing threads are (core/openssl.hpp); the _shared
// variants run every thread in the process's one default context, as a plain
// PKCS#11 application does. Environment: SOFTHSM2_CONF, BENCH_MODULE,
// BENCH_TOKEN_URI, BENCH_PIN_FILE, BENCH_ED25519_LABEL, BENCH_RSA_LABEL.
#include "signet/core/openssl.hpp"
#include "signet/hsm/hsm.hpp"
#include "signet/hsm/pin.hpp"

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <ctime>
#include <optional>
#include <stdexcept>

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) throw std::runtime_error(std::string(name) + " is not set");
  return v;
}

struct Keys {
  std::shared_ptr<signet::hsm::Module> module;
  std::shared_ptr<signet::hsm::Token> token;
  signet::hsm::KeyPair ed, rsa;
};

Keys& keys() {
  static Keys* k = [] {
    auto* out = new Keys;
    out->module = signet::hsm::Module::load(env("BENCH_MODULE"));
    out->token = signet::hsm::Token::open(out->module, signet::hsm::Uri::parse(env("BENCH_TOKEN_URI")));
    auto pin = signet::hsm::read_pin(signet::hsm::PinSource::from_file(env("BENCH_PIN_FILE")));
    out->token->login(pin);
    auto find = [&](const std::string& label) {
      const auto found = out->token->find(signet::hsm::Uri::parse("pkcs11:object=" + label + ";type=private"));
      if (found.size() != 1) throw std::runtime_error("no single key labelled " + label);
      return found.front();
    };
    out->ed = find(env("BENCH_ED25519_LABEL"));
    out->rsa = find(env("BENCH_RSA_LABEL"));
    return out;
  }();
  return *k;
}

// A license-sized message (the payloads are about 1.2 KB).
const signet::Bytes& message() {
  static const signet::Bytes m(1200, 0x7b);
  return m;
}

double process_cpu_seconds() {
  timespec t{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

// Also reports the whole process's CPU time per signature (all threads, user
// and system): what one signature costs the machine, to compare with Signet's
// CPU time per license.
void sign_with(benchmark::State& state, const signet::hsm::KeyPair& key, bool own_context) {
  auto& k = keys();
  std::optional<signet::openssl::ThreadContextScope> context;
  if (own_context) context.emplace(static_cast<std::size_t>(state.thread_index()));
  const double cpu_start = state.thread_index() == 0 ? process_cpu_seconds() : 0.0;
  for (auto _ : state) benchmark::DoNotOptimize(k.token->sign(key, message()));
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    const auto signatures = static_cast<double>(state.iterations()) * state.threads();
    state.counters["process_cpu_us_per_sig"] = (process_cpu_seconds() - cpu_start) / signatures * 1e6;
  }
}

void BM_csign_ed25519(benchmark::State& state) { sign_with(state, keys().ed, true); }
void BM_csign_rsa2048(benchmark::State& state) { sign_with(state, keys().rsa, true); }
void BM_csign_ed25519_shared(benchmark::State& state) { sign_with(state, keys().ed, false); }
void BM_csign_rsa2048_shared(benchmark::State& state) { sign_with(state, keys().rsa, false); }

}  // namespace

BENCHMARK(BM_csign_ed25519)->Threads(1)->Threads(2)->UseRealTime()->MinTime(3.0);
BENCHMARK(BM_csign_rsa2048)->Threads(1)->Threads(2)->UseRealTime()->MinTime(3.0);
BENCHMARK(BM_csign_ed25519_shared)->Threads(2)->UseRealTime()->MinTime(3.0);
BENCHMARK(BM_csign_rsa2048_shared)->Threads(2)->UseRealTime()->MinTime(3.0);

int main(int argc, char** argv) {
  keys();  // log in before any timing
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
