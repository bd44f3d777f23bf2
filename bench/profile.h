// Where a running server's CPU goes: `perf record` of the server process
// during one load run, then `perf report` read into the parts of an issuance
// (signature check, key import, certificate, store commit, TLS, ...), each
// as a share of the process's samples. issuance_bench prints it under its
// tables so a missed target comes with its profile (issue 5). Needs perf
// (Debian's linux-perf) and the right to profile the process; without them
// the report says why. Thread safety: used by the benchmark's main thread.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "bench/process.h"
#include "common/status.h"

namespace hostca::bench {

// One part of the server's work and its share of the samples (0..1).
struct ProfilePart {
  std::string part;     // what the server does there
  std::string symbols;  // the frames it is measured by, for the reader
  double share = 0;
};

struct Profile {
  std::string not_taken;           // why there is no profile; "" when there is one
  std::string what;                // the load it was taken under
  std::string samples;             // perf's sample count line
  std::vector<ProfilePart> parts;  // in the order of an issuance, "rest" last
};

// `perf record -F 499 --call-graph dwarf -p PID` until Finish.
class PerfRecording {
 public:
  // Fails when perf cannot be started; `data_path` receives perf.data.
  static Result<std::unique_ptr<PerfRecording>> Start(pid_t pid, const std::string& data_path);
  // Stops the recording (SIGINT), reads it with `perf report` and splits it
  // into the parts of an issuance through the keep-alive enroll path.
  Result<Profile> Finish(const std::string& what);

 private:
  PerfRecording(std::unique_ptr<ChildProcess> perf, std::string data_path)
      : perf_(std::move(perf)), data_path_(std::move(data_path)) {}
  std::unique_ptr<ChildProcess> perf_;
  std::string data_path_;
};

// The parts of `perf report --children --sort symbol --stdio -g none`
// output (exposed for its test of the parsing on a stored report).
Profile IssuanceProfileFromReport(const std::string& report_text);

}  // namespace hostca::bench
