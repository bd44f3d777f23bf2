// What crl_bench measured and its three renderings: a text table for
// stdout, and Markdown and JSON reports (bench/README.md explains the
// columns). Plain values and pure functions; thread safety as for any value.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "common/status.h"

namespace hostca::bench {

// The figures of one CRL size. Times in seconds.
struct SizeResult {
  size_t entries = 0;
  double fill_seconds = 0;              // CrlEntrySet::Put of every entry (encodes each once)
  size_t set_memory_bytes = 0;          // resident anonymous memory the fill added
  std::vector<double> sign_seconds;     // CrlSigner::Sign, every run
  double revoke_to_crl_seconds = 0;     // Publisher: OnRevoked(one more) + PublishNow
  double store_preload_seconds = 0;     // setup: N revoked records into the LMDB store
  double publisher_start_seconds = 0;   // setup: Publisher::Create (load N, first CRL)
  size_t crl_bytes = 0;                 // DER of hostca's CRL
  size_t openssl_crl_bytes = 0;         // DER of openssl's CRL
  std::vector<double> openssl_seconds;  // `openssl ca -gencrl`, every run
  std::vector<double> cfssl_seconds;    // `cfssl gencrl`, every run (empty: not installed)
  size_t cfssl_crl_bytes = 0;           // DER of cfssl's CRL
};

// Where and with what the benchmark ran.
struct Environment {
  std::string date;  // UTC, RFC 3339
  unsigned nproc = 0;
  std::string cpu_model, kernel;
  std::string openssl_cli, openssl_library;  // `openssl version`, the linked library
  std::string git_commit;                    // "" when unknown
  std::string command_line;
};

// Fills everything but date and command_line from this machine: /proc/cpuinfo,
// uname(2), `openssl version`, `git -C <source_dir> rev-parse HEAD`.
Environment DetectEnvironment(const std::string& source_dir);

// Cells of the report tables: `v` through printf's `fmt`; a rate (one
// decimal below 100); seconds as milliseconds (two decimals below 10 ms).
std::string Format(const char* fmt, double v);
std::string Rate(double v);
std::string Millis(double seconds);

// DetectEnvironment, plus the date (now, UTC) and the command line with
// `program` for argv[0]: what every benchmark's report starts with.
Environment RunEnvironment(const std::string& source_dir, const std::string& program, int argc,
                           char** argv);

// Writes OUT_DIR/<name>-<date's YYYY-MM-DD><suffix>.md and .json
// atomically (OUT_DIR created) and says on stderr where they are.
Status WriteReportFiles(const std::string& out_dir, const std::string& name, const Environment& env,
                        const std::string& suffix, const std::string& markdown,
                        const std::string& json);

// The end of every benchmark's main: prints `text` on stdout, then
// WriteReportFiles. Returns main's exit code: 0, or 1 with the reason on
// stderr (after "<program>: ") when the reports cannot be written.
int PrintAndWriteReports(const char* program, const std::string& out_dir, const std::string& name,
                         const Environment& env, const std::string& suffix, const std::string& text,
                         const std::string& markdown, const std::string& json);

// The median of `values` (the mean of the middle two for an even count);
// 0 when empty.
double Median(std::vector<double> values);

// Tables of strings, first row the header, as the reports print them: text
// with right-aligned columns two spaces apart (widths count UTF-8 code
// points), or Markdown with the first `left_columns` columns left-aligned.
using StringTable = std::vector<std::vector<std::string>>;
std::string RenderText(const StringTable& rows);
std::string RenderMarkdown(const StringTable& rows, size_t left_columns);

std::string TextTable(const std::vector<SizeResult>& results);
std::string MarkdownReport(const Environment& env, const std::vector<SizeResult>& results);
std::string JsonReport(const Environment& env, const std::vector<SizeResult>& results);

}  // namespace hostca::bench
