#include "bench/instructions.h"

#include <openssl/evp.h>

#include <cctype>
#include <cstdio>
#include <sstream>

#include "bench/process.h"
#include "common/file.h"
#include "common/ossl.h"

namespace hostca::bench {
namespace {

// The frames of an issuance, outermost first; "of which" parts are inside
// the part above them.
struct Frame {
  const char* part;
  const char* symbol;
};
constexpr Frame kFrames[] = {
    {"the TLS handshakes of the run's 8 connections, spread over its certificates",
     "SSL_do_handshake"},
    {"HTTP request: TLS read, parsing, routing, the handler, the answer's TLS write",
     "httplib::Server::process_request("},
    {"enrollment: decisions, CSR, certificate, store calls and the wait for the commit",
     "hostca::enrollment::EnrollmentService::Enroll("},
    {"CSR parsing, key import and signature check", "hostca::ca::ParseAndCheckCsr("},
    {"of which the ECDSA verification", "EVP_DigestVerifyFinal"},
    {"certificate assembly and signature", "hostca::ca::Issuer::Issue("},
    {"of which the ECDSA signature", "EVP_DigestSignFinal"},
    {"store writer thread: records, B-tree updates, commit",
     "hostca::storage::internal::GroupCommitStorage::WriterLoop("},
    {"of which LMDB's commit, in user space (its pwrite and fdatasync are kernel work)",
     "mdb_txn_commit"},
};

// The leading "1,234,567" of an annotate line; false when there is none.
bool LeadingCount(const std::string& line, uint64_t* out) {
  size_t i = 0;
  while (i < line.size() && line[i] == ' ') {
    ++i;
  }
  uint64_t v = 0;
  bool any = false;
  for (; i < line.size() && (std::isdigit(static_cast<unsigned char>(line[i])) || line[i] == ',');
       ++i) {
    if (line[i] != ',') {
      v = v * 10 + static_cast<uint64_t>(line[i] - '0');
      any = true;
    }
  }
  *out = v;
  return any && i < line.size() && line[i] == ' ';
}

Result<uint64_t> TotalOfFile(const std::string& path) {
  HOSTCA_ASSIGN_OR_RETURN(const std::string text, ReadFile(path));
  return CallgrindTotal(text);
}

Result<uint64_t> CountSignatureLoop(const std::string& self, const std::string& work_dir,
                                    size_t iterations) {
  const std::string out = work_dir + "/signature-loop-" + std::to_string(iterations) + ".out";
  HOSTCA_ASSIGN_OR_RETURN(const CommandRun run,
                          RunCommand({"valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                                      self, "--signature-loop", std::to_string(iterations)}));
  if (run.exit_code != 0) {
    return Internal("the signature loop under callgrind failed (exit " +
                    std::to_string(run.exit_code) + "): " + run.output.substr(0, 500));
  }
  return TotalOfFile(out);
}

}  // namespace

Result<uint64_t> CallgrindTotal(const std::string& text) {
  for (const char* key : {"\ntotals:", "\nsummary:"}) {
    const size_t at = text.find(key);
    if (at == std::string::npos) {
      continue;
    }
    std::istringstream in(text.substr(at + std::string(key).size(), 64));
    uint64_t v = 0;
    if (in >> v) {
      return v;
    }
  }
  return Internal("no totals: or summary: line in the callgrind output");
}

std::vector<InstructionPart> InstructionPartsFromAnnotate(const std::string& text,
                                                          size_t certificates) {
  std::vector<InstructionPart> parts;
  if (certificates == 0) {
    return parts;
  }
  for (const Frame& f : kFrames) {
    // Lines are sorted by count, largest first: the first match is the frame
    // (a smaller one with the same name would be a recursion's inner call).
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      uint64_t count = 0;
      if (line.find(f.symbol) != std::string::npos && LeadingCount(line, &count)) {
        parts.push_back({f.part, f.symbol, static_cast<double>(count) / certificates});
        break;
      }
    }
  }
  return parts;
}

Result<double> SignatureInstructions(const std::string& self, const std::string& work_dir) {
  constexpr size_t kFew = 10, kMany = 110;
  HOSTCA_ASSIGN_OR_RETURN(const uint64_t few, CountSignatureLoop(self, work_dir, kFew));
  HOSTCA_ASSIGN_OR_RETURN(const uint64_t many, CountSignatureLoop(self, work_dir, kMany));
  if (many <= few) {
    return Internal("the signature loop's instructions did not grow with its iterations");
  }
  return static_cast<double>(many - few) / (kMany - kFew);
}

int SignatureLoopMain(size_t iterations) {
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  // A CSR's signed part is about 300 bytes, a host certificate's about 520.
  const std::string csr_tbs(300, 'c'), cert_tbs(520, 'x');
  const auto sign = [&](const std::string& msg, std::string* sig) {
    EvpMdCtxPtr ctx(EVP_MD_CTX_new());
    size_t len = 0;
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &len, nullptr, 0) != 1) {
      return false;
    }
    sig->resize(len);
    auto* out = reinterpret_cast<unsigned char*>(sig->data());
    const auto* in = reinterpret_cast<const unsigned char*>(msg.data());
    if (EVP_DigestSign(ctx.get(), out, &len, in, msg.size()) != 1) {
      return false;
    }
    sig->resize(len);
    return true;
  };
  std::string csr_sig, cert_sig;
  if (!key || !sign(csr_tbs, &csr_sig)) {
    std::fprintf(stderr, "signature loop: cannot make a P-256 key and signature\n");
    return 1;
  }
  for (size_t i = 0; i < iterations; ++i) {
    EvpMdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
        EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(csr_sig.data()),
                         csr_sig.size(), reinterpret_cast<const unsigned char*>(csr_tbs.data()),
                         csr_tbs.size()) != 1 ||
        !sign(cert_tbs, &cert_sig)) {
      std::fprintf(stderr, "signature loop: an operation failed\n");
      return 1;
    }
  }
  return 0;
}

std::vector<std::string> CallgrindWrapper(const std::string& out_path) {
  return {"valgrind", "--tool=callgrind", "--instr-atstart=no", "--callgrind-out-file=" + out_path};
}

Status CallgrindInstrument(int pid, bool on) {
  HOSTCA_ASSIGN_OR_RETURN(
      const CommandRun run,
      RunCommand({"callgrind_control", on ? "--instr=on" : "--instr=off", std::to_string(pid)}));
  if (run.exit_code != 0) {
    return Internal("callgrind_control failed (exit " + std::to_string(run.exit_code) +
                    "): " + run.output.substr(0, 300));
  }
  return Status::Ok();
}

}  // namespace hostca::bench
