#include "bench/openssl_ca.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>

#include "common/encoding.h"
#include "common/file.h"
#include "common/pem.h"

extern char** environ;

namespace hostca::bench {
namespace {

// OpenSSL's index.txt time format (UTCTime): YYMMDDHHMMSSZ.
std::string IndexTime(int64_t unix_seconds) { return FormatUtc(unix_seconds, "%y%m%d%H%M%SZ"); }

// Starts `argv` (looked up in PATH) with stdout on `out_fd` and stderr on
// `err_fd`; returns its pid, or -1.
pid_t Spawn(const std::vector<std::string>& argv, int out_fd, int err_fd) {
  std::vector<char*> args;
  for (const std::string& a : argv) {
    args.push_back(const_cast<char*>(a.c_str()));
  }
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_fd, STDERR_FILENO);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

// The exit code of `pid`, or -1 when it did not exit normally.
int Wait(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      return -1;
    }
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string ConfigText(const std::string& dir) {
  return "# Written by crl_bench: the minimal CA for `openssl ca -gencrl`.\n"
         "[ ca ]\n"
         "default_ca = bench_ca\n"
         "\n"
         "[ bench_ca ]\n"
         "database = " +
         dir + "/index.txt\n" + "certificate = " + dir + "/ca.pem\n" + "private_key = " + dir +
         "/ca.key\n" + "crlnumber = " + dir + "/crlnumber\n" +
         "default_md = sha256\n"
         "default_crl_days = 7\n"
         "crl_extensions = crl_ext\n"
         "\n"
         "[ crl_ext ]\n"
         "authorityKeyIdentifier = keyid:always\n";
}

}  // namespace

Result<size_t> CheckCrl(std::string_view data, X509* ca_cert, size_t expected_entries) {
  auto crl = CrlFromPemOrDer(data);
  if (!crl.ok()) {
    return InvalidArgument("OpenSSL cannot parse the CRL: " + crl.status().ToString());
  }
  if (X509_CRL_verify(crl->get(), X509_get0_pubkey(ca_cert)) != 1) {
    return OpenSslError("the CRL's signature does not verify", Code::kInvalidArgument);
  }
  const STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl->get());
  const size_t count = revoked == nullptr ? 0 : static_cast<size_t>(sk_X509_REVOKED_num(revoked));
  if (count != expected_entries) {
    return InvalidArgument("the CRL holds " + std::to_string(count) + " entries, expected " +
                           std::to_string(expected_entries));
  }
  return static_cast<size_t>(i2d_X509_CRL(crl->get(), nullptr));
}

Result<std::string> WriteOpensslCa(const std::string& dir, const ca::Issuer& issuer,
                                   const std::vector<crl::CrlEntry>& entries) {
  HOSTCA_RETURN_IF_ERROR(MakeDirs(dir, 0755));
  HOSTCA_ASSIGN_OR_RETURN(std::string cert_pem, CertToPem(issuer.ca_cert()));
  HOSTCA_ASSIGN_OR_RETURN(std::string key_pem, PrivateKeyToPem(issuer.key()));
  HOSTCA_RETURN_IF_ERROR(WriteFileAtomic(dir + "/ca.pem", cert_pem, 0644));
  HOSTCA_RETURN_IF_ERROR(WriteFileAtomic(dir + "/ca.key", key_pem, 0600));
  std::string index;
  index.reserve(entries.size() * 96);
  for (const crl::CrlEntry& e : entries) {
    std::string serial = HexEncode(e.serial);
    std::transform(serial.begin(), serial.end(), serial.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    index.append("R\t")
        .append(IndexTime(e.not_after))
        .append("\t")
        .append(IndexTime(e.revoked_at))
        .append(",keyCompromise\t")
        .append(serial)
        .append("\tunknown\t/CN=x\n");
  }
  HOSTCA_RETURN_IF_ERROR(WriteFileAtomic(dir + "/index.txt", index, 0644));
  HOSTCA_RETURN_IF_ERROR(WriteFileAtomic(dir + "/index.txt.attr", "unique_subject = no\n", 0644));
  HOSTCA_RETURN_IF_ERROR(WriteFileAtomic(dir + "/crlnumber", "01\n", 0644));
  const std::string config = dir + "/openssl.cnf";
  HOSTCA_RETURN_IF_ERROR(WriteFileAtomic(config, ConfigText(dir), 0644));
  return config;
}

Result<double> TimeGencrl(const std::string& config, const std::string& crl_path) {
  const std::string log_path = crl_path + ".log";
  const int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return Internal("cannot open " + log_path);
  }
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid =
      Spawn({"openssl", "ca", "-config", config, "-gencrl", "-out", crl_path}, log_fd, log_fd);
  const int code = pid < 0 ? -1 : Wait(pid);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  close(log_fd);
  if (code != 0) {
    auto log = ReadFile(log_path);
    std::string tail = log.ok() ? *log : "";
    if (tail.size() > 2000) {
      tail = tail.substr(tail.size() - 2000);
    }
    return Internal("openssl ca -gencrl failed (exit " + std::to_string(code) + "): " + tail);
  }
  return seconds;
}

Result<double> TimeCfsslGencrl(const std::string& dir, const std::vector<crl::CrlEntry>& entries,
                               std::string* der) {
  if (CommandOutputLine({"cfssl", "version"}).empty()) {
    return NotFound("cfssl is not installed");
  }
  std::string serials;
  serials.reserve(entries.size() * 40);
  for (const crl::CrlEntry& e : entries) {
    BignumPtr bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(e.serial.data()),
                           static_cast<int>(e.serial.size()), nullptr));
    char* dec = bn ? BN_bn2dec(bn.get()) : nullptr;
    if (dec == nullptr) {
      return OpenSslError("cannot format a serial");
    }
    serials.append(dec).push_back('\n');
    OPENSSL_free(dec);
  }
  HOSTCA_RETURN_IF_ERROR(WriteFileAtomic(dir + "/serials.txt", serials, 0644));
  const std::string out_path = dir + "/cfssl-crl.b64";
  const int out_fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const int err_fd =
      open((out_path + ".log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out_fd < 0 || err_fd < 0) {
    return Internal("cannot open " + out_path);
  }
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = Spawn(
      {"cfssl", "gencrl", dir + "/serials.txt", dir + "/ca.pem", dir + "/ca.key"}, out_fd, err_fd);
  close(out_fd);
  close(err_fd);
  const int code = pid < 0 ? -1 : Wait(pid);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (code != 0) {
    auto log = ReadFile(out_path + ".log");
    return Internal("cfssl gencrl failed (exit " + std::to_string(code) +
                    "): " + (log.ok() ? log->substr(0, 2000) : std::string()));
  }
  HOSTCA_ASSIGN_OR_RETURN(std::string b64, ReadFile(out_path));
  while (!b64.empty() && (b64.back() == '\n' || b64.back() == '\r')) {
    b64.pop_back();
  }
  der->assign(b64.size() / 4 * 3 + 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(der->data()),
                                reinterpret_cast<const unsigned char*>(b64.data()),
                                static_cast<int>(b64.size()));
  if (n < 0) {
    return Internal("cfssl gencrl printed no base64 CRL");
  }
  // EVP_DecodeBlock counts the padding as zero bytes.
  size_t len = static_cast<size_t>(n);
  for (size_t i = b64.size(); i > 0 && b64[i - 1] == '='; --i) {
    --len;
  }
  der->resize(len);
  return seconds;
}

std::string CommandOutputLine(const std::vector<std::string>& argv) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return "";
  }
  const int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
  const pid_t pid = Spawn(argv, fds[1], null_fd < 0 ? fds[1] : null_fd);
  close(fds[1]);
  if (null_fd >= 0) {
    close(null_fd);
  }
  std::string out;
  char buf[4096];
  ssize_t n = 0;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
    }
  }
  close(fds[0]);
  if (pid < 0 || Wait(pid) != 0) {
    return "";
  }
  return out.substr(0, out.find('\n'));
}

}  // namespace hostca::bench
