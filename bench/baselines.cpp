#include "bench/baselines.h"

#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "bench/loadgen.h"
#include "ca/authority.h"
#include "ca/keys.h"
#include "common/clock.h"
#include "common/file.h"
#include "common/pem.h"

namespace hostca::bench {
namespace {

std::string Tail(const std::string& s, size_t bytes) {
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

// The numbers at the end of the `openssl speed` line that names `label`
// ("ecdsa (nistp256)": ..., sign/s, verify/s).
Result<std::vector<double>> SpeedFigures(const std::string& output, const std::string& label) {
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) {
    const size_t at = line.find(label);
    if (at == std::string::npos) {
      continue;
    }
    std::istringstream fields(line.substr(at + label.size()));
    std::vector<double> numbers;
    for (std::string f; fields >> f;) {
      try {
        if (f.back() != 's') {  // "0.0001s" are times per operation
          numbers.push_back(std::stod(f));
        }
      } catch (const std::exception&) {
        return Internal("cannot parse the openssl speed line: " + line);
      }
    }
    return numbers;
  }
  return Internal("no '" + label + "' line in the openssl speed output: " + Tail(output, 500));
}

Result<std::string> RunSpeed(int seconds, const std::string& algorithm) {
  HOSTCA_ASSIGN_OR_RETURN(CommandRun run, RunCommand({"openssl", "speed", "-seconds",
                                                      std::to_string(seconds), algorithm}));
  if (run.exit_code != 0) {
    return Internal("openssl speed " + algorithm + " failed: " + Tail(run.output, 500));
  }
  return run.output;
}

constexpr char kCfsslConfig[] =
    R"({"signing": {"default": {"expiry": "8760h",)"
    R"( "usages": ["digital signature", "server auth", "client auth"]}}})";

// cfssl's certdb schema for SQLite (certdb/sqlite migrations of the cfssl
// version Debian ships; the INSERT in /usr/bin/cfssl names these columns).
constexpr char kCfsslSchema[] =
    "CREATE TABLE certificates ("
    " serial_number blob NOT NULL, authority_key_identifier blob NOT NULL, ca_label blob,"
    " status blob NOT NULL, reason int, expiry timestamp, revoked_at timestamp,"
    " pem blob NOT NULL, PRIMARY KEY(serial_number, authority_key_identifier));"
    "CREATE TABLE ocsp_responses ("
    " serial_number blob NOT NULL, authority_key_identifier blob NOT NULL,"
    " body blob NOT NULL, expiry timestamp,"
    " PRIMARY KEY(serial_number, authority_key_identifier));";

std::string OpensslCaConfig(const std::string& dir) {
  return "# Written by issuance_bench: one certificate per `openssl ca -batch`.\n"
         "[ ca ]\n"
         "default_ca = bench_ca\n"
         "\n"
         "[ bench_ca ]\n"
         "database = " +
         dir + "/index.txt\n" + "new_certs_dir = " + dir + "/certs\n" + "certificate = " + dir +
         "/ca.pem\n" + "private_key = " + dir + "/ca.key\n" +
         "rand_serial = yes\n"
         "unique_subject = no\n"
         "default_md = sha256\n"
         "default_days = 365\n"
         "copy_extensions = none\n"
         "policy = bench_policy\n"
         "x509_extensions = host_ext\n"
         "\n"
         "[ bench_policy ]\n"
         "commonName = supplied\n"
         "\n"
         "[ host_ext ]\n"
         "basicConstraints = critical, CA:FALSE\n"
         "keyUsage = critical, digitalSignature\n"
         "extendedKeyUsage = serverAuth, clientAuth\n"
         "subjectKeyIdentifier = hash\n"
         "authorityKeyIdentifier = keyid:always\n";
}

}  // namespace

Result<SignatureLimit> MeasureSignatureLimit(int seconds, unsigned cores) {
  SignatureLimit limit;
  limit.cores = cores;
  HOSTCA_ASSIGN_OR_RETURN(const std::string ecdsa, RunSpeed(seconds, "ecdsap256"));
  HOSTCA_ASSIGN_OR_RETURN(const auto ecdsa_figures, SpeedFigures(ecdsa, "ecdsa (nistp256)"));
  HOSTCA_ASSIGN_OR_RETURN(const std::string ecdh, RunSpeed(seconds, "ecdhp256"));
  HOSTCA_ASSIGN_OR_RETURN(const auto ecdh_figures, SpeedFigures(ecdh, "ecdh (nistp256)"));
  if (ecdsa_figures.size() != 2 || ecdh_figures.size() != 1) {
    return Internal("unexpected openssl speed output: " + Tail(ecdsa + ecdh, 500));
  }
  limit.sign_per_second = ecdsa_figures[0];
  limit.verify_per_second = ecdsa_figures[1];
  limit.ecdh_per_second = ecdh_figures[0];
  return limit;
}

Result<BenchCa> MakeBenchCa() {
  BenchCa ca;
  HOSTCA_ASSIGN_OR_RETURN(ca.key, ca::GenerateKey(ca::KeyType::kP256));
  ca::CaOptions options;
  options.organization = "bench baseline";
  HOSTCA_ASSIGN_OR_RETURN(
      ca.cert, ca::CreateRootCertificate(ca.key.get(), options, SystemClock::Instance()));
  HOSTCA_ASSIGN_OR_RETURN(ca.cert_pem, CertToPem(ca.cert.get()));
  HOSTCA_ASSIGN_OR_RETURN(ca.key_pem, PrivateKeyToPem(ca.key.get()));
  return ca;
}

Result<std::vector<std::string>> MakeCsrs(size_t n) {
  std::vector<std::string> csrs;
  csrs.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    HOSTCA_ASSIGN_OR_RETURN(EvpPkeyPtr key, ca::GenerateKey(ca::KeyType::kP256));
    X509ReqPtr req(X509_REQ_new());
    X509NamePtr name(X509_NAME_new());
    const std::string cn = "bench-" + std::to_string(i) + ".example.test";
    ClearOpenSslErrors();
    if (!req || !name ||
        X509_NAME_add_entry_by_txt(name.get(), "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                   0) != 1 ||
        X509_REQ_set_version(req.get(), 0) != 1 ||
        X509_REQ_set_subject_name(req.get(), name.get()) != 1 ||
        X509_REQ_set_pubkey(req.get(), key.get()) != 1 ||
        X509_REQ_sign(req.get(), key.get(), EVP_sha256()) <= 0) {
      return OpenSslError("cannot make a CSR");
    }
    HOSTCA_ASSIGN_OR_RETURN(std::string pem, CsrToPem(req.get()));
    csrs.push_back(std::move(pem));
  }
  return csrs;
}

Status CheckIssued(std::string_view pem, X509* ca) {
  auto cert = CertFromPem(pem);
  if (!cert.ok()) {
    return InvalidArgument("the issued certificate does not parse: " + cert.status().ToString());
  }
  ClearOpenSslErrors();
  if (X509_verify(cert->get(), X509_get0_pubkey(ca)) != 1) {
    return OpenSslError("the issued certificate's signature does not verify with the CA key",
                        Code::kInvalidArgument);
  }
  return Status::Ok();
}

Result<CfsslServer> StartCfssl(const std::string& dir, const BenchCa& ca, bool sqlite) {
  HOSTCA_RETURN_IF_ERROR(MakeDirs(dir, 0700));
  HOSTCA_RETURN_IF_ERROR(WriteFileAtomic(dir + "/ca.pem", ca.cert_pem, 0644));
  HOSTCA_RETURN_IF_ERROR(WriteFileAtomic(dir + "/ca-key.pem", ca.key_pem, 0600));
  HOSTCA_RETURN_IF_ERROR(WriteFileAtomic(dir + "/config.json", kCfsslConfig, 0644));
  CfsslServer server;
  HOSTCA_ASSIGN_OR_RETURN(server.port, FreeLoopbackPort());
  std::vector<std::string> argv = {"cfssl",    "serve",
                                   "-address", "127.0.0.1",
                                   "-port",    std::to_string(server.port),
                                   "-ca",      dir + "/ca.pem",
                                   "-ca-key",  dir + "/ca-key.pem",
                                   "-config",  dir + "/config.json"};
  if (sqlite) {
    server.db_path = dir + "/certs.db";
    HOSTCA_ASSIGN_OR_RETURN(CommandRun schema,
                            RunCommand({"sqlite3", server.db_path, kCfsslSchema}));
    if (schema.exit_code != 0) {
      return Internal("sqlite3 cannot create cfssl's schema: " + Tail(schema.output, 500));
    }
    const std::string db_config =
        R"({"driver": "sqlite3", "data_source": ")" + server.db_path + "\"}";
    HOSTCA_RETURN_IF_ERROR(WriteFileAtomic(dir + "/db-config.json", db_config, 0644));
    argv.push_back("-db-config");
    argv.push_back(dir + "/db-config.json");
  }
  HOSTCA_ASSIGN_OR_RETURN(server.process, ChildProcess::Start(argv, dir + "/cfssl.log"));
  // Ready once it signs: one CSR, which also warms it up.
  HOSTCA_ASSIGN_OR_RETURN(const auto csrs, MakeCsrs(1));
  Endpoint ep;
  ep.port = server.port;
  ep.timeout = std::chrono::seconds(5);
  HttpRequest req;
  req.method = "POST";
  req.path = "/api/v1/cfssl/sign";
  req.headers = {{"Content-Type", "application/json"}};
  req.body = nlohmann::json({{"certificate_request", csrs[0]}}).dump();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  std::string last_error;
  while (std::chrono::steady_clock::now() < deadline) {
    if (server.process->Exited()) {
      return Unavailable("cfssl serve exited: " + server.process->LogTail(1000));
    }
    auto res = Fetch(ep, req);
    if (res.ok() && res->status == 200) {
      auto body = nlohmann::json::parse(res->body, nullptr, false);
      if (body.is_discarded() || !body.contains("result") ||
          !body["result"].contains("certificate") || !body["result"]["certificate"].is_string()) {
        return Internal("cfssl's sign answer holds no certificate: " + Tail(res->body, 500));
      }
      HOSTCA_RETURN_IF_ERROR(
          CheckIssued(body["result"]["certificate"].get<std::string>(), ca.cert.get())
              .WithContext("cfssl"));
      return server;
    }
    last_error = res.ok() ? "status " + std::to_string(res->status) + ": " + Tail(res->body, 300)
                          : res.status().ToString();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // poll interval
  }
  return Unavailable("cfssl serve did not sign within 15 s (" + last_error +
                     "): " + server.process->LogTail(1000));
}

Result<size_t> CountCfsslCertificates(const std::string& db_path) {
  HOSTCA_ASSIGN_OR_RETURN(CommandRun run,
                          RunCommand({"sqlite3", db_path, "SELECT count(*) FROM certificates;"}));
  if (run.exit_code != 0) {
    return Internal("sqlite3 cannot count the certificates: " + Tail(run.output, 500));
  }
  try {
    return static_cast<size_t>(std::stoull(run.output));
  } catch (const std::exception&) {
    return Internal("unexpected sqlite3 output: " + Tail(run.output, 200));
  }
}

Result<OpensslCaRuns> MeasureOpensslCa(const std::string& dir, const BenchCa& ca,
                                       const std::vector<std::string>& csrs, size_t per_run,
                                       int runs) {
  OpensslCaRuns out;
  out.certs_per_run = std::min(per_run, csrs.size());
  HOSTCA_RETURN_IF_ERROR(MakeDirs(dir + "/csr", 0700));
  for (size_t i = 0; i < out.certs_per_run; ++i) {
    HOSTCA_RETURN_IF_ERROR(
        WriteFileAtomic(dir + "/csr/" + std::to_string(i) + ".pem", csrs[i], 0644));
  }
  for (int run = 0; run < runs; ++run) {
    const std::string ca_dir = dir + "/run-" + std::to_string(run);
    HOSTCA_RETURN_IF_ERROR(MakeDirs(ca_dir + "/certs", 0700));
    HOSTCA_RETURN_IF_ERROR(WriteFileAtomic(ca_dir + "/ca.pem", ca.cert_pem, 0644));
    HOSTCA_RETURN_IF_ERROR(WriteFileAtomic(ca_dir + "/ca.key", ca.key_pem, 0600));
    HOSTCA_RETURN_IF_ERROR(WriteFileAtomic(ca_dir + "/index.txt", "", 0644));
    const std::string config = ca_dir + "/openssl.cnf";
    HOSTCA_RETURN_IF_ERROR(WriteFileAtomic(config, OpensslCaConfig(ca_dir), 0644));
    double wall = 0, cpu = 0;
    std::string last_cert;
    for (size_t i = 0; i < out.certs_per_run; ++i) {
      last_cert = ca_dir + "/certs/out-" + std::to_string(i) + ".pem";
      HOSTCA_ASSIGN_OR_RETURN(
          CommandRun r,
          RunCommand({"openssl", "ca", "-batch", "-notext", "-config", config, "-in",
                      dir + "/csr/" + std::to_string(i) + ".pem", "-out", last_cert}));
      if (r.exit_code != 0) {
        return Internal("openssl ca failed (exit " + std::to_string(r.exit_code) +
                        "): " + Tail(r.output, 1000));
      }
      wall += r.wall_seconds;
      cpu += r.cpu_seconds;
    }
    HOSTCA_ASSIGN_OR_RETURN(const std::string pem, ReadFile(last_cert));
    HOSTCA_RETURN_IF_ERROR(CheckIssued(pem, ca.cert.get()).WithContext("openssl ca"));
    out.certs_per_second.push_back(wall > 0 ? static_cast<double>(out.certs_per_run) / wall : 0);
    out.cpu_per_cert.push_back(cpu / static_cast<double>(std::max<size_t>(1, out.certs_per_run)));
  }
  return out;
}

}  // namespace hostca::bench
