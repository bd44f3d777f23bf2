// crl_bench: what a CRL of N entries costs hostca (filling the entry set,
// signing, one revocation to a published CRL, size) next to
// `openssl ca -gencrl` on the same revocation list. Usage and how to read
// the figures: bench/README.md.
//
//   crl_bench [--quick] [--sizes 10000,100000] [--out DIR]
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "bench/args.h"
#include "bench/openssl_ca.h"
#include "bench/report.h"
#include "ca/authority.h"
#include "ca/issuer.h"
#include "ca/keys.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "common/file.h"
#include "common/resident_memory.h"
#include "crl/crl_builder.h"
#include "crl/publisher.h"
#include "storage/storage.h"

namespace hostca::bench {
namespace {

constexpr int kSignRuns = 3;
constexpr int kOpensslRuns = 3;
constexpr size_t kOpensslOneRunAbove = 100000;  // one `openssl ca -gencrl` run above this
constexpr size_t kStoreBatch = 10000;           // records per storage Update
constexpr int kKeyCompromise = 1;
constexpr int64_t kDay = 86400;

struct Options {
  std::vector<size_t> sizes = {10000, 100000, 1000000};
  std::string out_dir = HOSTCA_SOURCE_DIR "/bench/results";
  std::string report_suffix;  // in the report's file name: "" for the default sizes
};

using SteadyClock = std::chrono::steady_clock;

double SecondsSince(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

constexpr char kUsage[] =
    "usage: crl_bench [--quick] [--sizes N,N,...] [--out DIR]\n"
    "  --quick       sizes 10000,100000 (default: 10000,100000,1000000)\n"
    "  --sizes LIST  comma-separated entry counts\n"
    "  --out DIR     where the Markdown and JSON reports go (default: bench/results)\n";

Result<Options> ParseArgs(int argc, char** argv) {
  Options opts;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--quick") {
      opts.sizes = {10000, 100000};
      opts.report_suffix = "-quick";
    } else if (arg == "--sizes" && has_value) {
      HOSTCA_ASSIGN_OR_RETURN(opts.sizes, ParseCounts(argv[++i], "--sizes"));
      opts.report_suffix = "-sizes";
    } else if (arg == "--out" && has_value) {
      opts.out_dir = argv[++i];
    } else {
      return InvalidArgument("unknown or incomplete argument '" + arg + "'");
    }
  }
  return opts;
}

// `n` entries as hostca keeps them: random 16-byte serials (first byte
// 0x01..0x7f), revoked during the last 30 days, keyCompromise, of
// certificates that stay valid for 90 more days.
std::vector<crl::CrlEntry> MakeEntries(size_t n, int64_t now) {
  std::vector<crl::CrlEntry> entries;
  entries.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const auto spread = static_cast<int64_t>(i % (30 * kDay));
    entries.push_back(
        crl::CrlEntry{ca::NewSerial(), now - spread, kKeyCompromise, now + 90 * kDay + spread});
  }
  return entries;
}

storage::CertRecord RevokedRecord(const crl::CrlEntry& e) {
  storage::CertRecord r;
  r.serial = e.serial;
  r.host_id = "bench-host";
  r.not_before = e.revoked_at - kDay;
  r.not_after = e.not_after;
  r.issued_at = r.not_before;
  r.status = storage::CertStatus::kRevoked;
  r.revocation_reason = e.reason;
  r.revoked_at = e.revoked_at;
  r.der = "dummy";
  return r;
}

Result<std::unique_ptr<ca::Issuer>> MakeCa(const Clock& clock) {
  HOSTCA_ASSIGN_OR_RETURN(EvpPkeyPtr key, ca::GenerateKey(ca::KeyType::kP256));
  HOSTCA_ASSIGN_OR_RETURN(X509Ptr cert,
                          ca::CreateRootCertificate(key.get(), ca::CaOptions{}, clock));
  return ca::Issuer::Create(std::move(key), std::move(cert), {}, "hostca");
}

// Anonymous memory this process has resident, 0 when it cannot be read.
// Counts the entry set's own mappings as well as anything it mallocs, which
// mallinfo would not.
size_t AnonymousResidentBytes() {
  const std::optional<ResidentMemory> memory = ReadResidentMemory();
  return memory ? memory->anonymous_bytes() : 0;
}

// (a), (b), (c): fill a CrlEntrySet, sign it kSignRuns times, check the CRL.
Status MeasureSigner(const ca::Issuer& issuer, const std::vector<crl::CrlEntry>& entries,
                     int64_t now, SizeResult* result) {
  HOSTCA_ASSIGN_OR_RETURN(auto signer, crl::CrlSigner::Create(issuer));
  crl::CrlEntrySet set;
  const size_t memory_before = AnonymousResidentBytes();
  const auto fill_start = SteadyClock::now();
  for (const crl::CrlEntry& e : entries) {
    set.Put(e);
  }
  result->fill_seconds = SecondsSince(fill_start);
  const size_t memory_after = AnonymousResidentBytes();
  result->set_memory_bytes = memory_after > memory_before ? memory_after - memory_before : 0;
  if (set.size() != entries.size()) {
    return Internal("the entry set holds " + std::to_string(set.size()) + " entries, expected " +
                    std::to_string(entries.size()) + " (a serial repeated?)");
  }
  std::string der;
  for (int run = 1; run <= kSignRuns; ++run) {
    const auto start = SteadyClock::now();
    HOSTCA_ASSIGN_OR_RETURN(der,
                            signer->Sign(set, static_cast<uint64_t>(run), now, now + 7 * kDay));
    result->sign_seconds.push_back(SecondsSince(start));
  }
  result->crl_bytes = der.size();
  HOSTCA_RETURN_IF_ERROR(CheckCrl(der, issuer.ca_cert(), entries.size())
                             .status()
                             .WithContext("hostca's CRL of " + std::to_string(entries.size())));
  return Status::Ok();
}

// (d): a Publisher over a store holding the entries as revoked records; one
// more revocation, then PublishNow, timed. The store is a server's: LMDB
// with its redo log, in `dir`, so the publisher's start reads the records
// and each publish takes its CRL number durably as in a server.
Status MeasurePublisher(const ca::Issuer& issuer, const std::vector<crl::CrlEntry>& entries,
                        const Clock& clock, const std::string& dir, SizeResult* result) {
  HOSTCA_ASSIGN_OR_RETURN(std::unique_ptr<storage::Storage> store,
                          storage::OpenLmdbStorage({.path = dir}));
  const auto preload_start = SteadyClock::now();
  for (size_t begin = 0; begin < entries.size(); begin += kStoreBatch) {
    const size_t end = std::min(entries.size(), begin + kStoreBatch);
    HOSTCA_RETURN_IF_ERROR(store->Update([&](storage::WriteTxn& txn) -> Status {
      for (size_t i = begin; i < end; ++i) {
        HOSTCA_RETURN_IF_ERROR(txn.InsertCert(RevokedRecord(entries[i])));
      }
      return Status::Ok();
    }));
  }
  result->store_preload_seconds = SecondsSince(preload_start);

  const auto start_start = SteadyClock::now();
  HOSTCA_ASSIGN_OR_RETURN(auto publisher,
                          crl::Publisher::Create(issuer, *store, clock, crl::CrlOptions{}));
  result->publisher_start_seconds = SecondsSince(start_start);

  // As enrollment does: the revocation is durable before the publisher hears of it.
  const int64_t now = clock.NowSeconds();
  const storage::CertRecord extra =
      RevokedRecord(crl::CrlEntry{ca::NewSerial(), now, kKeyCompromise, now + 90 * kDay});
  HOSTCA_RETURN_IF_ERROR(
      store->Update([&](storage::WriteTxn& txn) { return txn.InsertCert(extra); }));
  const auto start = SteadyClock::now();
  publisher->OnRevoked({extra});
  HOSTCA_ASSIGN_OR_RETURN(auto published, publisher->PublishNow());
  result->revoke_to_crl_seconds = SecondsSince(start);
  if (published->entries != entries.size() + 1) {
    return Internal("the published CRL holds " + std::to_string(published->entries) +
                    " entries, expected " + std::to_string(entries.size() + 1));
  }
  return Status::Ok();
}

// The baseline: `openssl ca -gencrl` over an index.txt of the same entries.
Status MeasureOpenssl(const ca::Issuer& issuer, const std::vector<crl::CrlEntry>& entries,
                      const std::string& dir, SizeResult* result) {
  HOSTCA_ASSIGN_OR_RETURN(const std::string config, WriteOpensslCa(dir, issuer, entries));
  const std::string crl_path = dir + "/crl.pem";
  const int runs = entries.size() > kOpensslOneRunAbove ? 1 : kOpensslRuns;
  for (int run = 0; run < runs; ++run) {
    HOSTCA_ASSIGN_OR_RETURN(const double seconds, TimeGencrl(config, crl_path));
    result->openssl_seconds.push_back(seconds);
  }
  HOSTCA_ASSIGN_OR_RETURN(const std::string pem, ReadFile(crl_path));
  auto checked = CheckCrl(pem, issuer.ca_cert(), entries.size());
  if (!checked.ok()) {
    return checked.status().WithContext("openssl's CRL of " + std::to_string(entries.size()));
  }
  result->openssl_crl_bytes = *checked;
  // cfssl gencrl on the same serials, with the same CA files.
  const int cfssl_runs = entries.size() > kOpensslOneRunAbove ? 1 : kOpensslRuns;
  for (int run = 0; run < cfssl_runs; ++run) {
    std::string der;
    auto seconds = TimeCfsslGencrl(dir, entries, &der);
    if (!seconds.ok() && seconds.status().code() == Code::kNotFound) {
      return Status::Ok();  // no cfssl here: the column says "-"
    }
    HOSTCA_RETURN_IF_ERROR(seconds.status());
    result->cfssl_seconds.push_back(*seconds);
    if (run == 0) {
      auto cfssl_checked = CheckCrl(der, issuer.ca_cert(), entries.size());
      if (!cfssl_checked.ok()) {
        return cfssl_checked.status().WithContext("cfssl's CRL of " +
                                                  std::to_string(entries.size()));
      }
      result->cfssl_crl_bytes = *cfssl_checked;
    }
  }
  return Status::Ok();
}

Result<SizeResult> RunSize(const ca::Issuer& issuer, size_t n, const std::string& tmp_dir) {
  const Clock& clock = SystemClock::Instance();
  SizeResult result;
  result.entries = n;
  std::fprintf(stderr, "== %zu entries\n", n);
  const std::vector<crl::CrlEntry> entries = MakeEntries(n, clock.NowSeconds());
  HOSTCA_RETURN_IF_ERROR(MeasureSigner(issuer, entries, clock.NowSeconds(), &result));
  std::fprintf(stderr,
               "   hostca: fill %.4f s (entry set %.0f bytes/entry), sign median %.4f s, %zu bytes "
               "(verified)\n",
               result.fill_seconds,
               static_cast<double>(result.set_memory_bytes) / static_cast<double>(result.entries),
               Median(result.sign_seconds), result.crl_bytes);
  const std::string store_dir = tmp_dir + "/crl-store-" + std::to_string(n);
  std::error_code ec;
  std::filesystem::remove_all(store_dir, ec);  // left by an interrupted run
  const Status measured = MeasurePublisher(issuer, entries, clock, store_dir, &result);
  std::filesystem::remove_all(store_dir, ec);  // about 600 MB at a million entries
  HOSTCA_RETURN_IF_ERROR(measured);
  std::fprintf(stderr,
               "   publisher: revocation to CRL %.4f s (setup: store preload %.2f s, "
               "publisher start %.2f s)\n",
               result.revoke_to_crl_seconds, result.store_preload_seconds,
               result.publisher_start_seconds);
  const std::string dir = tmp_dir + "/crl-" + std::to_string(n);
  HOSTCA_RETURN_IF_ERROR(MeasureOpenssl(issuer, entries, dir, &result));
  std::fprintf(stderr, "   openssl ca -gencrl: median %.3f s over %zu run(s) (verified)\n",
               Median(result.openssl_seconds), result.openssl_seconds.size());
  if (!result.cfssl_seconds.empty()) {
    std::fprintf(stderr, "   cfssl gencrl: median %.3f s over %zu run(s) (verified)\n",
                 Median(result.cfssl_seconds), result.cfssl_seconds.size());
  }
  std::filesystem::remove_all(dir, ec);  // index.txt is ~100 MB at a million entries
  return result;
}

int Main(int argc, char** argv) {
  if (argc == 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  auto opts = ParseArgs(argc, argv);
  if (!opts.ok()) {
    std::fprintf(stderr, "crl_bench: %s\n%s", opts.status().message().c_str(), kUsage);
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);  // the publisher logs every CRL at info
  const Environment env = RunEnvironment(HOSTCA_SOURCE_DIR, "crl_bench", argc, argv);

  auto issuer = MakeCa(SystemClock::Instance());
  if (!issuer.ok()) {
    std::fprintf(stderr, "crl_bench: cannot make the CA: %s\n", issuer.status().ToString().c_str());
    return 1;
  }
  const std::string tmp_dir = opts->out_dir + "/tmp";
  std::vector<SizeResult> results;
  for (const size_t n : opts->sizes) {
    auto result = RunSize(**issuer, n, tmp_dir);
    if (!result.ok()) {
      std::fprintf(stderr, "crl_bench: %zu entries: %s\n", n, result.status().ToString().c_str());
      return 1;
    }
    results.push_back(std::move(*result));
  }
  std::error_code ec;
  std::filesystem::remove(tmp_dir, ec);  // only when empty
  return PrintAndWriteReports("crl_bench", opts->out_dir, "crl", env, opts->report_suffix,
                              TextTable(results), MarkdownReport(env, results),
                              JsonReport(env, results));
}

}  // namespace
}  // namespace hostca::bench

int main(int argc, char** argv) { return hostca::bench::Main(argc, argv); }
