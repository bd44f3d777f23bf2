// The subcommands of `hostca`. Each Add* function declares its subcommands on
// `app`; when the user picks one, its CLI11 callback stores the work in
// *action, which main() runs after parsing has finished (so global options
// given after the subcommand are known). An action returns the exit code:
// 0 ok, 1 error (reported through ReportError). Usage errors (2) come from
// CLI11 while parsing.
//
// `g` and `action` must outlive the parse and the action.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

#include "cli/session.h"

namespace hostca::cli {

using Action = std::function<int()>;

// Makes `cmd` store `run` in *action when it is the command given.
void OnRun(CLI::App* cmd, Action* action, Action run);

// Runs one admin call (AdminCall) and prints the answer: the server's JSON
// with --json, else render(answer). Returns the exit code.
int RunAdmin(const Globals& g, Method method, const std::string& path, const nlohmann::json& body,
             int want, const std::function<void(const nlohmann::json&)>& render);

// {"reason": reason}, or {} for "" (the server's default).
nlohmann::json ReasonBody(const std::string& reason);

// A CLI11 transform turning a duration ("90s", "15m", "48h", "7d", seconds)
// into seconds; anything else is a usage error.
CLI::Validator DurationSeconds();

void AddCaCommands(CLI::App& app, const Globals& g, Action* action);         // ca get
void AddHostCommands(CLI::App& app, const Globals& g, Action* action);       // enroll, renew,
                                                                             // revoke, status
void AddAgentCommand(CLI::App& app, const Globals& g, Action* action);       // agent
void AddAdminCommands(CLI::App& app, const Globals& g, Action* action);      // token, host, mapping
void AddInventoryCommands(CLI::App& app, const Globals& g, Action* action);  // cert, level, mode
void AddAuditCommands(CLI::App& app, const Globals& g, Action* action);      // audit
void AddCrlCommands(CLI::App& app, const Globals& g, Action* action);  // crl fetch, show, publish
void AddExternalCommands(CLI::App& app, const Globals& g, Action* action);  // external enroll,
                                                                            // remove, show

}  // namespace hostca::cli
