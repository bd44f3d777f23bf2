// hostca-server: `init` creates a CA in a data directory, `serve` runs it,
// `backup` and `restore` copy it into and out of an encrypted file.
// Exit codes: 0 ok, 1 error, 2 usage.
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/clock.h"
#include "common/file.h"
#include "common/harden.h"
#include "common/pkcs12.h"
#include "common/version.h"
#include "enrollment/tidy.h"
#include "server/backup_commands.h"
#include "server/command_util.h"
#include "server/init.h"
#include "server/layout.h"
#include "server/options.h"
#include "server/p12_commands.h"
#include "server/running_server.h"
#include "server/server.h"
#include "server/service_manager.h"
#include "storage/storage.h"

namespace hostca::server {
namespace {

struct Flags {
  std::string data_dir, config, listen, http_listen, passphrase_file, log_level;
  InitOptions init;
};

void AddCommonFlags(CLI::App* cmd, Flags* f) {
  cmd->add_option("--data", f->data_dir, "data directory of the CA")->required();
  cmd->add_option("--config", f->config, "TOML configuration file (see conf/hostca.toml)");
  cmd->add_option("--passphrase-file", f->passphrase_file,
                  "file holding the CA key passphrase (default DATA/ca.pass; "
                  "HOSTCA_KEY_PASSPHRASE wins)");
  cmd->add_option("--log-level", f->log_level, "trace, debug, info, warn, error");
}

// Config file first, then flags.
Result<ServerOptions> BuildOptions(const Flags& f) {
  ServerOptions o;
  if (!f.config.empty()) {
    HOSTCA_RETURN_IF_ERROR(LoadConfigFile(f.config, &o));
    o.config_path = f.config;  // scheduled backups include it
  }
  o.data_dir = f.data_dir;
  if (!f.listen.empty()) {
    o.listen = f.listen;
  }
  if (!f.http_listen.empty()) {
    o.http_listen = f.http_listen;
  }
  if (!f.passphrase_file.empty()) {
    o.passphrase_file = f.passphrase_file;
  }
  if (!f.log_level.empty()) {
    o.log_level = f.log_level;
  }
  return o;
}

void SetupLogging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("hostca");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::flush_on(spdlog::level::info);
}

int RunInitCommand(const Flags& f) {
  auto options = BuildOptions(f);
  if (!options.ok()) {
    return CommandFailed("", options.status());
  }
  auto report = RunInit(*options, f.init, SystemClock::Instance());
  if (!report.ok()) {
    return CommandFailed("init", report.status());
  }
  if (f.init.intermediate) {
    std::cout << "Intermediate CA key written. Have your root sign\n  " << options->data_dir
              << "/ca.csr\nthen run\n  hostca-server init --data " << options->data_dir
              << " --install-ca-cert SIGNED.pem   (the certificate, then its chain up to the "
                 "root)\n";
  } else {
    std::cout << "CA created in " << options->data_dir << "\n"
              << "  fingerprint (SHA-256): " << report->fingerprint_sha256 << "\n"
              << "  admin token:           " << options->data_dir << "/admin.token\n";
  }
  for (const std::string& path : report->written) {
    std::cout << "  wrote " << path << "\n";
  }
  if (report->passphrase_generated) {
    std::cout << "The CA key passphrase was generated into " << options->data_dir
              << "/ca.pass (0600). Keep a copy somewhere safe.\n";
  }
  return 0;
}

// `tidy`: the background job's work, run once by hand: on the store itself,
// or through the server that holds it (running_server.h).
int RunTidyCommand(const Flags& f, int64_t retention_days) {
  auto options = BuildOptions(f);
  if (!options.ok()) {
    return CommandFailed("", options.status());
  }
  const DataLayout layout(options->data_dir);
  if (!FileExists(layout.db() + "/data.mdb")) {
    std::cerr << "hostca-server tidy: " << layout.db() << " holds no store\n";
    return 1;
  }
  const int64_t days = retention_days >= 0 ? retention_days : options->tidy_retention_days;
  auto store = storage::OpenLmdbStorage(StoreOptions(*options));
  if (!store.ok() && store.status().reason() == "store_in_use") {
    auto answer = PostToRunningServer(options->data_dir, "/v1/tidy", {{"retention_days", days}});
    if (!answer.ok()) {
      return CommandFailed("tidy", answer.status());
    }
    std::cout << "removed " << answer->value("removed", uint64_t{0})
              << " records of certificates expired more than " << days
              << " days ago (by the running server)\n";
    return 0;
  }
  if (!store.ok()) {
    return CommandFailed("tidy", store.status());
  }
  enrollment::TidyOptions to;
  to.retention_seconds = days * 86400;
  auto removed = enrollment::TidyExpired(**store, SystemClock::Instance().NowSeconds(), to,
                                         "hostca-server tidy");
  (*store)->Close();
  if (!removed.ok()) {
    return CommandFailed("tidy", removed.status());
  }
  std::cout << "removed " << *removed << " records of certificates expired more than " << days
            << " days ago\n";
  return 0;
}

// `hostca-server check`: reads every page of the store (DESIGN.md section
// 9: corruption is found before a request meets it).
int RunCheckCommand(const Flags& f, bool json) {
  auto options = BuildOptions(f);
  if (!options.ok()) {
    return CommandFailed("", options.status());
  }
  const DataLayout layout(options->data_dir);
  auto check = CheckStore(layout.db());
  if (!check.ok()) {
    return CommandFailed("check", check.status());
  }
  if (json) {
    nlohmann::json tables = nlohmann::json::array();
    for (const auto& t : check->tables) {
      tables.push_back({{"table", t.name}, {"entries", t.entries}, {"bytes", t.bytes}});
    }
    std::cout << nlohmann::json{{"store", layout.db()},
                                {"tables", tables},
                                {"problems_found", check->problems_found},
                                {"problems", check->problems}}
                     .dump(2)
              << "\n";
  } else {
    for (const auto& t : check->tables) {
      std::printf("%-16s %12llu entries %14llu bytes\n", t.name.c_str(),
                  static_cast<unsigned long long>(t.entries),
                  static_cast<unsigned long long>(t.bytes));
    }
    for (const std::string& p : check->problems) {
      std::cout << "problem: " << p << "\n";
    }
    std::cout << (check->problems_found == 0
                      ? "store OK: every page read, every record decoded\n"
                      : "store damaged: " + std::to_string(check->problems_found) + " problems\n");
  }
  return check->problems_found == 0 ? 0 : 1;
}

int RunAdminCertCommand(const Flags& f, const std::string& name, const std::string& out,
                        int64_t days) {
  auto options = BuildOptions(f);
  if (!options.ok()) {
    return CommandFailed("", options.status());
  }
  auto issued = IssueAdminCertFiles(*options, name, out, days, SystemClock::Instance());
  if (!issued.ok()) {
    return CommandFailed("admin-cert", issued.status());
  }
  std::cout << "admin certificate " << issued->serial << " for " << name << ": " << out << "/"
            << name << ".crt and " << out << "/" << name << ".key (0600)"
            << (issued->through_server ? ", issued by the running server" : "") << "\n";
  return 0;
}

// The PKCS#12 file and its passphrase of export-ca and import-tls.
struct P12Flags {
  std::string file, passphrase_file;
};

int RunExportCaCommand(const Flags& f, const P12Flags& p) {
  auto options = BuildOptions(f);
  if (!options.ok()) {
    return CommandFailed("", options.status());
  }
  auto pass = ReadPassphraseFile(p.passphrase_file);
  if (!pass.ok()) {
    return CommandFailed("export-ca", pass.status());
  }
  auto report = ExportCaP12(*options, p.file, *pass);
  if (!report.ok()) {
    return CommandFailed("export-ca", report.status());
  }
  std::cout << "CA " << report->fingerprint_sha256 << " with its key"
            << (report->chain_certs > 0
                    ? " and " + std::to_string(report->chain_certs) + " chain certificates"
                    : std::string())
            << " written to " << p.file << " (PKCS#12, 0600: PBES2 AES-256-CBC, SHA-256 MAC).\n"
            << "It holds the CA's private key: keep it offline and delete it once moved.\n";
  return 0;
}

int RunImportTlsCommand(const Flags& f, const P12Flags& p) {
  auto options = BuildOptions(f);
  if (!options.ok()) {
    return CommandFailed("", options.status());
  }
  auto pass = ReadPassphraseFile(p.passphrase_file);
  if (!pass.ok()) {
    return CommandFailed("import-tls", pass.status());
  }
  auto report = ImportTlsP12(*options, p.file, *pass, SystemClock::Instance());
  if (!report.ok()) {
    return CommandFailed("import-tls", report.status());
  }
  std::string names;
  for (const std::string& n : report->dns_names) {
    names += (names.empty() ? "" : ", ") + n;
  }
  std::cout << (report->replaced ? "replaced " : "installed ") << report->subject << " for "
            << names << ":\n  " << report->crt_path << " (with " << report->chain_certs
            << " chain certificates)\n  " << report->key_path << " (0600)\n"
            << "The HTTPS listener serves it to clients naming one of these names from its "
               "next start (restart hostca-server serve).\n";
  return 0;
}

// Tells systemd (Type=notify, conf/hostca-server.service) the server's
// state; a failure only costs a warning: the server serves either way, and
// systemd then reports the start as timed out.
void Notify(const std::string& state) {
  if (const Status st = NotifyServiceManager(state); !st.ok()) {
    spdlog::warn("{}", st.ToString());
  }
}

int CannotServe(const Status& st) {
  spdlog::error("cannot start: {}", st.ToString());
  std::string line = st.message();  // one line: a newline would start another assignment
  std::replace(line.begin(), line.end(), '\n', ' ');
  Notify("STATUS=cannot start: " + line);
  return 1;
}

int RunServeCommand(const Flags& f) {
  auto options = BuildOptions(f);
  if (!options.ok()) {
    return CommandFailed("", options.status());
  }
  SetupLogging(options->log_level);
  // Block the stop signals in every thread; one thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto server = Server::Create(*options, SystemClock::Instance());
  if (!server.ok()) {
    return CannotServe(server.status());
  }
  if (Status st = (*server)->Bind(); !st.ok()) {
    return CannotServe(st);
  }
  Server* srv = server->get();
  std::thread waiter([srv, signals] {
    int sig = 0;
    sigwait(&signals, &sig);
    spdlog::info("signal {}: draining requests and stopping", sig);
    Notify("STOPPING=1\nSTATUS=draining requests and stopping");
    srv->Stop();
  });
  spdlog::info("hostca-server ready");
  // Both listeners are bound and listening (connections wait in their
  // queues until the accept loops start), the store is open and any crash
  // recovered: what a unit ordered after this one may rely on.
  Notify("READY=1\nSTATUS=serving the API on port " + std::to_string(srv->https_port()) +
         " (HTTPS), the CA certificate and CRL on port " + std::to_string(srv->http_port()) +
         " (HTTP)");
  const Status st = srv->Run();
  // The waiter must be gone before the server is destroyed: if Run ended on
  // its own, wake it with the signal it waits for.
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  if (!st.ok()) {
    spdlog::error("{}", st.ToString());
    return 1;
  }
  spdlog::info("stopped");
  return 0;
}

}  // namespace
}  // namespace hostca::server

int main(int argc, char** argv) {
  using hostca::server::Flags;
  // The CA key and tokens live in this process: no core dumps of it.
  if (!hostca::DisableCoreDumps()) {
    std::fprintf(stderr, "hostca-server: warning: cannot disable core dumps\n");
  }
  CLI::App app{"hostca-server: the hostca certificate authority"};
  app.set_version_flag("--version", hostca::VersionLine("hostca-server"));
  app.require_subcommand(1);
  Flags f;
  CLI::App* init = app.add_subcommand("init", "create a CA in a new data directory");
  hostca::server::AddCommonFlags(init, &f);
  init->add_option("--key-type", f.init.key_type,
                   "p256 (default), p384, ed25519, rsa3072, rsa4096");
  init->add_option("--name", f.init.organization,
                   "organisation (O=) of the CA and its certificates");
  init->add_option("--server-name", f.init.server_names,
                   "name of this server in its TLS certificate (repeat; default localhost, "
                   "127.0.0.1)");
  init->add_flag("--intermediate", f.init.intermediate,
                 "make a key and DATA/ca.csr for an external root to sign");
  init->add_option("--install-ca-cert", f.init.install_ca_cert,
                   "finish an intermediate CA: PEM file with the signed certificate and its chain");
  CLI::App* serve = app.add_subcommand("serve", "serve the CA over HTTPS and plain HTTP");
  hostca::server::AddCommonFlags(serve, &f);
  serve->add_option("--listen", f.listen, "HTTPS API address (default 127.0.0.1:8443)");
  serve->add_option("--http-listen", f.http_listen,
                    "plain-HTTP address for /ca.crt and /crl (default 127.0.0.1:8080)");
  CLI::App* tidy = app.add_subcommand(
      "tidy",
      "remove records of certificates expired beyond the retention (through the server when "
      "it runs)");
  hostca::server::AddCommonFlags(tidy, &f);
  int64_t retention_days = -1;
  tidy->add_option("--retention-days", retention_days,
                   "keep expired records this many days (default tidy.retention_days, 90)");
  CLI::App* check = app.add_subcommand(
      "check", "read every page and record of the store and report damage (server may run)");
  hostca::server::AddCommonFlags(check, &f);
  bool check_json = false;
  check->add_flag("--json", check_json, "JSON output");
  CLI::App* admin_cert =
      app.add_subcommand("admin-cert", "issue an admin client certificate (TLS client auth)");
  hostca::server::AddCommonFlags(admin_cert, &f);
  std::string admin_name, admin_out = ".";
  int64_t admin_days = 365;
  admin_cert->add_option("--name", admin_name, "who the certificate is for")->required();
  admin_cert->add_option("--out", admin_out, "directory for NAME.crt and NAME.key (default .)");
  admin_cert->add_option("--days", admin_days, "validity in days (default 365)")
      ->check(CLI::Range(1, 3650));
  hostca::server::BackupFlags bf;
  CLI::App* backup = app.add_subcommand(
      "backup", "write an encrypted backup of a data directory (while the server runs), or --list");
  backup->add_option("--data", bf.data_dir, "data directory to back up");
  backup->add_option("--out", bf.out, "backup file to write (never overwritten)");
  backup->add_option("--config", bf.config,
                     "configuration file: included in the backup; with --list, its "
                     "backup.directory");
  backup->add_option("--passphrase-file", bf.passphrase_file,
                     "file holding the backup passphrase (else HOSTCA_BACKUP_PASSPHRASE)");
  backup->add_flag("--list", bf.list, "list the backups in --dir (or backup.directory)");
  backup->add_option("--dir", bf.dir, "with --list: the directory to list");
  backup->add_flag("--json", bf.json, "with --list: JSON output");
  CLI::App* restore =
      app.add_subcommand("restore", "verify a backup and restore it into a new data directory");
  restore->add_option("--in", bf.in, "backup file")->required();
  restore->add_option("--data", bf.data_dir, "new data directory (must not exist, or be empty)")
      ->required();
  restore->add_option("--passphrase-file", bf.passphrase_file,
                      "file holding the backup passphrase (else HOSTCA_BACKUP_PASSPHRASE)");
  hostca::server::P12Flags export_p12, import_p12;
  CLI::App* export_ca = app.add_subcommand(
      "export-ca", "write the CA certificate, its key and chain to a PKCS#12 file");
  hostca::server::AddCommonFlags(export_ca, &f);
  export_ca->add_option("--p12", export_p12.file, "the PKCS#12 file to write (0600)")->required();
  export_ca
      ->add_option("--p12-passphrase-file", export_p12.passphrase_file,
                   "file holding the PKCS#12 passphrase (trailing newline ignored; not empty)")
      ->required();
  CLI::App* import_tls = app.add_subcommand(
      "import-tls", "install a PKCS#12 certificate, key and chain for the HTTPS listener (SNI)");
  hostca::server::AddCommonFlags(import_tls, &f);
  import_tls->add_option("--p12", import_p12.file, "the PKCS#12 file to read")->required();
  import_tls
      ->add_option("--p12-passphrase-file", import_p12.passphrase_file,
                   "file holding the PKCS#12 passphrase (trailing newline ignored)")
      ->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (init->parsed()) {
    return hostca::server::RunInitCommand(f);
  }
  if (admin_cert->parsed()) {
    return hostca::server::RunAdminCertCommand(f, admin_name, admin_out, admin_days);
  }
  if (backup->parsed()) {
    return hostca::server::RunBackupCommand(bf);
  }
  if (restore->parsed()) {
    return hostca::server::RunRestoreCommand(bf);
  }
  if (export_ca->parsed()) {
    return hostca::server::RunExportCaCommand(f, export_p12);
  }
  if (import_tls->parsed()) {
    return hostca::server::RunImportTlsCommand(f, import_p12);
  }
  if (check->parsed()) {
    return hostca::server::RunCheckCommand(f, check_json);
  }
  if (tidy->parsed()) {
    return hostca::server::RunTidyCommand(f, retention_days);
  }
  return hostca::server::RunServeCommand(f);
}
