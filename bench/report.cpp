#include "bench/report.h"

#include <openssl/crypto.h>
#include <sys/utsname.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "bench/openssl_ca.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "common/file.h"

namespace hostca::bench {
namespace {

std::string Seconds(double s) { return Format(s < 1 ? "%.4f" : "%.3f", s); }

// "median" for one run, "median (min–max)" for more.
std::string Spread(const std::vector<double>& runs) {
  if (runs.empty()) {
    return "-";
  }
  std::string out = Seconds(Median(runs));
  if (runs.size() > 1) {
    const auto [lo, hi] = std::minmax_element(runs.begin(), runs.end());
    out += " (" + Seconds(*lo) + "–" + Seconds(*hi) + ")";
  }
  return out;
}

double Ratio(const SizeResult& r) {
  const double hostca = Median(r.sign_seconds);
  return hostca > 0 && !r.openssl_seconds.empty() ? Median(r.openssl_seconds) / hostca : 0;
}

const std::vector<std::string>& Header() {
  static const std::vector<std::string> header = {"entries",
                                                  "hostca fill s",
                                                  "entry set bytes/entry",
                                                  "hostca sign s (median, min–max)",
                                                  "revocation→CRL s",
                                                  "CRL bytes",
                                                  "bytes/entry",
                                                  "openssl -gencrl s",
                                                  "openssl/hostca",
                                                  "cfssl gencrl s",
                                                  "cfssl/hostca"};
  return header;
}

std::vector<std::string> Cells(const SizeResult& r) {
  return {std::to_string(r.entries),
          Seconds(r.fill_seconds),
          Format("%.0f", r.entries == 0 ? 0 : static_cast<double>(r.set_memory_bytes) / r.entries),
          Spread(r.sign_seconds),
          Seconds(r.revoke_to_crl_seconds),
          std::to_string(r.crl_bytes),
          Format("%.1f", r.entries == 0 ? 0 : static_cast<double>(r.crl_bytes) / r.entries),
          Spread(r.openssl_seconds) + (r.openssl_seconds.size() == 1 ? " (1 run)" : ""),
          Format("%.1fx", Ratio(r)),
          r.cfssl_seconds.empty()
              ? std::string("-")
              : Spread(r.cfssl_seconds) + (r.cfssl_seconds.size() == 1 ? " (1 run)" : ""),
          r.cfssl_seconds.empty() || Median(r.sign_seconds) <= 0
              ? std::string("-")
              : Format("%.1fx", Median(r.cfssl_seconds) / Median(r.sign_seconds))};
}

// Display width: counts UTF-8 code points, not bytes ("–", "→").
size_t Width(const std::string& s) {
  return static_cast<size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xc0) != 0x80; }));
}

}  // namespace

std::string Format(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, v);
  return buf;
}

std::string Rate(double v) { return Format(v < 100 ? "%.1f" : "%.0f", v); }
std::string Millis(double seconds) {
  return Format(seconds < 0.01 ? "%.2f" : "%.1f", seconds * 1000);
}

Environment RunEnvironment(const std::string& source_dir, const std::string& program, int argc,
                           char** argv) {
  Environment env = DetectEnvironment(source_dir);
  env.date = FormatRfc3339(SystemClock::Instance().NowSeconds());
  for (int i = 0; i < argc; ++i) {
    env.command_line += (i == 0 ? program : std::string(" ") + argv[i]);
  }
  return env;
}

Status WriteReportFiles(const std::string& out_dir, const std::string& name, const Environment& env,
                        const std::string& suffix, const std::string& markdown,
                        const std::string& json) {
  HOSTCA_RETURN_IF_ERROR(MakeDirs(out_dir, 0755));
  const std::string base = out_dir + "/" + name + "-" + env.date.substr(0, 10) + suffix;
  HOSTCA_RETURN_IF_ERROR(WriteFileAtomic(base + ".md", markdown, 0644));
  HOSTCA_RETURN_IF_ERROR(WriteFileAtomic(base + ".json", json, 0644));
  std::fprintf(stderr, "reports: %s.md, %s.json\n", base.c_str(), base.c_str());
  return Status::Ok();
}

int PrintAndWriteReports(const char* program, const std::string& out_dir, const std::string& name,
                         const Environment& env, const std::string& suffix, const std::string& text,
                         const std::string& markdown, const std::string& json) {
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);
  if (Status st = WriteReportFiles(out_dir, name, env, suffix, markdown, json); !st.ok()) {
    std::fprintf(stderr, "%s: cannot write the reports: %s\n", program, st.ToString().c_str());
    return 1;
  }
  return 0;
}

Environment DetectEnvironment(const std::string& source_dir) {
  Environment env;
  env.nproc = std::thread::hardware_concurrency();
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      env.cpu_model = colon == std::string::npos ? line : line.substr(colon + 2);
      break;
    }
  }
  utsname u{};
  if (uname(&u) == 0) {
    env.kernel = std::string(u.sysname) + " " + u.release + " " + u.machine;
  }
  env.openssl_cli = CommandOutputLine({"openssl", "version"});
  env.openssl_library = OpenSSL_version(OPENSSL_VERSION);
  env.git_commit = CommandOutputLine({"git", "-C", source_dir, "rev-parse", "HEAD"});
  return env;
}

double Median(std::vector<double> values) {
  if (values.empty()) {
    return 0;
  }
  std::sort(values.begin(), values.end());
  const size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

std::string RenderText(const StringTable& rows) {
  if (rows.empty()) {
    return "";
  }
  std::vector<size_t> widths(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], Width(row[i]));
    }
  }
  std::string out;
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      out += std::string(widths[i] - Width(row[i]) + (i == 0 ? 0 : 2), ' ') + row[i];
    }
    out += "\n";
  }
  return out;
}

std::string RenderMarkdown(const StringTable& rows, size_t left_columns) {
  std::string md;
  for (size_t r = 0; r < rows.size(); ++r) {
    md += "|";
    for (const std::string& c : rows[r]) {
      md += " " + c + " |";
    }
    md += "\n";
    if (r == 0) {
      md += "|";
      for (size_t i = 0; i < rows[0].size(); ++i) {
        md += i < left_columns ? ":---|" : "---:|";
      }
      md += "\n";
    }
  }
  return md;
}

std::string TextTable(const std::vector<SizeResult>& results) {
  std::vector<std::vector<std::string>> rows = {Header()};
  for (const SizeResult& r : results) {
    rows.push_back(Cells(r));
  }
  std::vector<size_t> widths(Header().size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], Width(row[i]));
    }
  }
  std::string out;
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      // Right-aligned columns, two spaces apart.
      out += std::string(widths[i] - Width(row[i]) + (i == 0 ? 0 : 2), ' ') + row[i];
    }
    out += "\n";
  }
  return out;
}

std::string MarkdownReport(const Environment& env, const std::vector<SizeResult>& results) {
  std::string md = "# hostca CRL benchmark, " + env.date + "\n\n";
  md += "- machine: " + std::to_string(env.nproc) + " CPUs, " + env.cpu_model + ", " + env.kernel +
        "\n";
  md += "- OpenSSL command line: " + env.openssl_cli + "\n";
  md += "- OpenSSL library in hostca: " + env.openssl_library + "\n";
  md += "- hostca commit: " + (env.git_commit.empty() ? "unknown" : env.git_commit) + "\n";
  md += "- command: `" + env.command_line + "`\n\n";
  md += "|";
  for (const std::string& h : Header()) {
    md += " " + h + " |";
  }
  md += "\n|";
  for (size_t i = 0; i < Header().size(); ++i) {
    md += "---:|";
  }
  md += "\n";
  for (const SizeResult& r : results) {
    md += "|";
    for (const std::string& c : Cells(r)) {
      md += " " + c + " |";
    }
    md += "\n";
  }
  md +=
      "\nSetup, not part of the comparison: a durable LMDB store, as a server's, preloaded with "
      "the revoked records, and Publisher::Create (loads them and publishes the first CRL).\n\n"
      "| entries | store preload s | publisher start s | openssl CRL bytes |\n"
      "|---:|---:|---:|---:|\n";
  for (const SizeResult& r : results) {
    md += "| " + std::to_string(r.entries) + " | " + Seconds(r.store_preload_seconds) + " | " +
          Seconds(r.publisher_start_seconds) + " | " + std::to_string(r.openssl_crl_bytes) + " |\n";
  }
  md +=
      "\nhostca sign = CrlSigner::Sign (concatenate the kept entry encodings, sign once), what "
      "every republish costs; openssl/hostca = median `openssl ca -gencrl` time / median hostca "
      "sign time. Every CRL was parsed and verified with OpenSSL and its entry count checked. "
      "See bench/README.md.\n";
  return md;
}

std::string JsonReport(const Environment& env, const std::vector<SizeResult>& results) {
  nlohmann::json j;
  j["benchmark"] = "crl";
  j["date"] = env.date;
  j["command"] = env.command_line;
  j["machine"] = {{"nproc", env.nproc}, {"cpu_model", env.cpu_model}, {"kernel", env.kernel}};
  j["versions"] = {{"openssl_cli", env.openssl_cli},
                   {"openssl_library", env.openssl_library},
                   {"hostca_commit", env.git_commit.empty() ? nlohmann::json(nullptr)
                                                            : nlohmann::json(env.git_commit)}};
  j["results"] = nlohmann::json::array();
  for (const SizeResult& r : results) {
    const auto [lo, hi] = std::minmax_element(r.sign_seconds.begin(), r.sign_seconds.end());
    j["results"].push_back({
        {"entries", r.entries},
        {"hostca_fill_s", r.fill_seconds},
        {"entry_set_memory_bytes", r.set_memory_bytes},
        {"hostca_sign_s",
         {{"median", Median(r.sign_seconds)},
          {"min", r.sign_seconds.empty() ? 0 : *lo},
          {"max", r.sign_seconds.empty() ? 0 : *hi},
          {"runs", r.sign_seconds}}},
        {"revocation_to_crl_s", r.revoke_to_crl_seconds},
        {"crl_bytes", r.crl_bytes},
        {"bytes_per_entry", r.entries == 0 ? 0 : static_cast<double>(r.crl_bytes) / r.entries},
        {"openssl_gencrl_s", {{"median", Median(r.openssl_seconds)}, {"runs", r.openssl_seconds}}},
        {"openssl_crl_bytes", r.openssl_crl_bytes},
        {"cfssl_gencrl_s",
         {{"median", r.cfssl_seconds.empty() ? 0.0 : Median(r.cfssl_seconds)},
          {"runs", r.cfssl_seconds}}},
        {"cfssl_crl_bytes", r.cfssl_crl_bytes},
        {"ratio_openssl_over_hostca_sign", Ratio(r)},
        {"setup",
         {{"store_preload_s", r.store_preload_seconds},
          {"publisher_start_s", r.publisher_start_seconds}}},
    });
  }
  return j.dump(2) + "\n";
}

}  // namespace hostca::bench
