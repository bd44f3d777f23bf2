// hostca: the client of a hostca server, for hosts and administrators
// (DESIGN.md section 8). Exit codes: 0 ok, 1 error, 2 usage.
#include <signal.h>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/times.h"
#include "common/harden.h"
#include "common/version.h"

namespace hostca::cli {

void OnRun(CLI::App* cmd, Action* action, Action run) {
  cmd->callback([action, run = std::move(run)] { *action = run; });
}

CLI::Validator DurationSeconds() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        auto seconds = ParseDuration(value);
        if (!seconds.ok()) {
          return seconds.status().message();
        }
        value = std::to_string(*seconds);
        return "";
      },
      "", "duration");
}

}  // namespace hostca::cli

namespace {

constexpr char kFooter[] =
    "Exit codes: 0 ok; 1 error (\"hostca: <code>: <message>\" on stderr, and with --json an\n"
    "{\"error\": {\"code\", \"message\"}} document on stdout); 2 usage.\n"
    "Global options (--server, --dir, --json, --admin-token-file) may stand before or after\n"
    "the subcommand.";

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  // Host keys and admin tokens live in this process: no core dumps of it.
  hostca::DisableCoreDumps();
  hostca::cli::Globals g;
  hostca::cli::Action action;
  CLI::App app{"hostca: client of a hostca certificate authority"};
  app.footer(kFooter);
  app.set_version_flag("--version", hostca::VersionLine("hostca"));
  app.require_subcommand(1);
  app.add_option("--server", g.server, "server URL, https://HOST:PORT (default " + g.server + ")")
      ->envname("HOSTCA_SERVER");
  app.add_option("--dir", g.dir, "host state directory (default /var/lib/hostca)");
  app.add_flag("--json", g.json, "machine-readable output: one JSON document on stdout");
  app.add_option("--admin-token-file", g.admin_token_file,
                 "file holding the admin token (else env HOSTCA_ADMIN_TOKEN)");
  app.fallthrough();  // global options may follow the subcommand; subcommands inherit this

  hostca::cli::AddCaCommands(app, g, &action);
  hostca::cli::AddHostCommands(app, g, &action);
  hostca::cli::AddAgentCommand(app, g, &action);
  hostca::cli::AddAdminCommands(app, g, &action);
  hostca::cli::AddInventoryCommands(app, g, &action);
  hostca::cli::AddAuditCommands(app, g, &action);
  hostca::cli::AddCrlCommands(app, g, &action);
  hostca::cli::AddExternalCommands(app, g, &action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  return action ? action() : 2;
}
