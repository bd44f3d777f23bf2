// Instructions per certificate: a measurement that does not move with the
// machine's load. On these shared machines certificates per second moved
// more from one run to the next than most changes to the server move them
// (bench/README.md, "Instructions per certificate"); callgrind counts the
// instructions the server executes in user space, the same for the same
// binary and inputs whatever else runs. issuance_bench runs one more
// keep-alive load against a server under `valgrind --tool=callgrind`, with
// instrumentation on only during that load, and compares its count with
// the count of the two signature operations alone (a loop in this binary,
// `--signature-loop N`, also under callgrind). Kernel work (TCP, the
// store's pwrite and fdatasync, futexes) is not counted: the CPU table and
// the perf profile show it. Thread safety: the benchmark's main thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace hostca::bench {

// One frame of the server's work and its inclusive instructions.
struct InstructionPart {
  std::string part;    // what the server does there
  std::string symbol;  // the frame (callgrind_annotate's function name contains it)
  double per_cert = 0;
};

struct InstructionCounts {
  std::string not_taken;  // why there are none; "" when there are
  std::string what;       // the load they were counted under
  size_t certificates = 0;
  double server_per_cert = 0;      // the server's user-space instructions / certificate
  double signatures_per_cert = 0;  // one CSR verification + one signature, alone
  std::vector<InstructionPart> parts;
};

// The "totals:" (else "summary:") figure of a callgrind output file: the
// instructions it counted (the first event, Ir).
Result<uint64_t> CallgrindTotal(const std::string& callgrind_out_text);

// The parts of an issuance in `callgrind_annotate --inclusive=yes` output,
// per certificate (exposed for its parsing; frames not found are left out).
std::vector<InstructionPart> InstructionPartsFromAnnotate(const std::string& annotate_text,
                                                          size_t certificates);

// Instructions of one ECDSA P-256 CSR verification and one certificate
// signature (SHA-256, CSR- and certificate-sized messages, a context each as
// the server makes), from two runs of `self --signature-loop N` under
// callgrind whose difference cancels the start-up.
Result<double> SignatureInstructions(const std::string& self, const std::string& work_dir);

// `--signature-loop N`: the loop SignatureInstructions counts; exit code.
int SignatureLoopMain(size_t iterations);

// The callgrind command that runs a server with instrumentation off until
// CallgrindInstrument turns it on (output to `out_path`).
std::vector<std::string> CallgrindWrapper(const std::string& out_path);
// `callgrind_control --instr=on|off PID`.
Status CallgrindInstrument(int pid, bool on);

}  // namespace hostca::bench
