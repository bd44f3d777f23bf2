// Admin commands: token, host, mapping (DESIGN.md sections 3, 5 and 8).
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/output.h"

namespace hostca::cli {

using nlohmann::json;

int RunAdmin(const Globals& g, Method method, const std::string& path, const json& body, int want,
             const std::function<void(const json&)>& render) {
  auto answer = AdminCall(g, method, path, body, want);
  if (!answer.ok()) {
    return ReportError(answer.status(), g.json);
  }
  g.json ? PrintJson(*answer) : render(*answer);
  return 0;
}

json ReasonBody(const std::string& reason) {
  return reason.empty() ? json::object() : json{{"reason", reason}};
}

namespace {

// Rows of `list` (an array of objects), one Cell per key.
std::vector<Row> RowsOf(const json& list, const std::vector<std::string>& keys) {
  std::vector<Row> rows;
  for (const json& item : list.is_array() ? list : json::array()) {
    Row row;
    for (const std::string& k : keys) {
      row.push_back(Cell(item, k));
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

struct TokenCreateArgs {
  std::string name;
  int64_t max_uses = 0;     // 0: server default (1)
  int64_t ttl_seconds = 0;  // 0: server default (24 h)
  std::string reason;
  std::string host_id;
};

int TokenCreate(const Globals& g, const TokenCreateArgs& a) {
  json body = {{"name", a.name}};
  if (a.max_uses > 0) {
    body["max_uses"] = a.max_uses;
  }
  if (a.ttl_seconds > 0) {
    body["ttl_seconds"] = a.ttl_seconds;
  }
  if (!a.reason.empty()) {
    body["reason"] = a.reason;
  }
  if (!a.host_id.empty()) {
    body["host_id"] = a.host_id;
  }
  return RunAdmin(g, Method::kPost, "/v1/tokens", body, 201, [](const json& r) {
    std::cout << FormatFields({{"token", Cell(r, "token")},
                               {"name", Cell(r, "name")},
                               {"expires", Cell(r, "expires_at")}})
              << "The token value is shown only now: the server keeps only its hash.\n";
  });
}

void RenderTokens(const json& r) {
  std::vector<Row> rows;
  for (const json& t : r.value("tokens", json::array())) {
    rows.push_back({Cell(t, "name"), Cell(t, "state"), Cell(t, "uses") + "/" + Cell(t, "max_uses"),
                    Cell(t, "expires_at"), Cell(t, "host_id"), Cell(t, "reason")});
  }
  std::cout << FormatTable({"NAME", "STATE", "USES", "EXPIRES", "HOST_ID", "REASON"}, rows);
}

void AddTokenCommands(CLI::App& app, const Globals& g, Action* action) {
  CLI::App* token = app.add_subcommand("token", "authorization tokens (admin)");
  token->require_subcommand(1);
  auto c = std::make_shared<TokenCreateArgs>();
  CLI::App* create = token->add_subcommand("create", "create a token; its value is shown once");
  create->add_option("name", c->name, "token name ([A-Za-z0-9._-])")->required();
  create->add_option("--max-uses", c->max_uses, "certificates it pays for (default 1)")
      ->check(CLI::PositiveNumber);
  create->add_option("--ttl", c->ttl_seconds, "lifetime: 90m, 24h (default), 2d, 3600s")
      ->type_name("DURATION")
      ->transform(DurationSeconds());
  create->add_option("--reason", c->reason, "why it exists (audit log)");
  create->add_option("--host-id", c->host_id, "bind to a host ID: a reissue token");
  OnRun(create, action, [&g, c] { return TokenCreate(g, *c); });

  CLI::App* list = token->add_subcommand("list", "list tokens (never their values)");
  OnRun(list, action,
        [&g] { return RunAdmin(g, Method::kGet, "/v1/tokens", json(), 200, RenderTokens); });

  auto name = std::make_shared<std::string>();
  CLI::App* del = token->add_subcommand("delete", "delete a token");
  del->add_option("name", *name, "token name")->required();
  OnRun(del, action, [&g, name] {
    return RunAdmin(
        g, Method::kDelete, "/v1/tokens/" + UrlEncode(*name), json(), 200,
        [](const json& r) { std::cout << "deleted token " << Cell(r, "deleted") << "\n"; });
  });

  CLI::App* cleanup = token->add_subcommand("cleanup", "delete expired and used-up tokens");
  OnRun(cleanup, action, [&g] {
    return RunAdmin(g, Method::kPost, "/v1/tokens/cleanup", json::object(), 200, [](const json& r) {
      std::cout << "removed " << Cell(r, "removed") << " tokens\n";
    });
  });
}

void RenderHost(const json& h) {
  std::vector<std::pair<std::string, std::string>> fields = {
      {"host ID", Cell(h, "host_id")},
      {"hostname", Cell(h, "hostname")},
      {"aliases", Cell(h, "aliases")},
      {"source", Cell(h, "source")},
      {"preregistered", Cell(h, "preregistered")},
      {"created", Cell(h, "created_at")}};
  if (h.contains("reissue_until")) {
    fields.emplace_back("reissue until", Cell(h, "reissue_until"));
  }
  std::cout << FormatFields(fields) << "\ncertificates:\n"
            << FormatTable(
                   {"SERIAL", "SOURCE", "STATUS", "NOT_BEFORE", "NOT_AFTER", "NAMES"},
                   RowsOf(h.value("certificates", json::array()),
                          {"serial", "source", "status", "not_before", "not_after", "names"}));
}

struct HostAddArgs {
  std::string hostname;
  std::vector<std::string> aliases;
};

struct HostActionArgs {
  std::string host;             // ID or name
  int64_t seconds = 48 * 3600;  // allow-reissue --for
  std::string reason;           // revoke --reason; "" = server default
};

// host allow-reissue, host revoke.
void AddHostActionCommands(CLI::App& host, const Globals& g, Action* action) {
  auto a = std::make_shared<HostActionArgs>();
  CLI::App* allow = host.add_subcommand("allow-reissue", "open a reissue window for a host");
  allow->add_option("host", a->host, "host ID or name")->required();
  allow->add_option("--for", a->seconds, "how long: 48h (default), 2d, 90m")
      ->type_name("DURATION")
      ->transform(DurationSeconds());
  OnRun(allow, action, [&g, a] {
    return RunAdmin(g, Method::kPost, "/v1/hosts/" + UrlEncode(a->host) + "/allow-reissue",
                    {{"seconds", a->seconds}}, 200, [](const json& r) {
                      std::cout << "reissue allowed for " << Cell(r, "host") << " until "
                                << Cell(r, "reissue_until") << "\n";
                    });
  });

  auto r = std::make_shared<HostActionArgs>();
  CLI::App* revoke = host.add_subcommand("revoke", "revoke every certificate of a host");
  revoke->add_option("host", r->host, "host ID or name")->required();
  revoke->add_option("--reason", r->reason, "RFC 5280 reason name (default unspecified)");
  OnRun(revoke, action, [&g, r] {
    return RunAdmin(g, Method::kPost, "/v1/hosts/" + UrlEncode(r->host) + "/revoke",
                    ReasonBody(r->reason), 200, [r](const json& answer) {
                      std::cout << "revoked " << Cell(answer, "revoked") << " certificates of "
                                << r->host << "\n";
                    });
  });
}

void AddHostAdminCommands(CLI::App& app, const Globals& g, Action* action) {
  CLI::App* host = app.add_subcommand("host", "hosts and their names (admin)");
  host->require_subcommand(1);
  auto add = std::make_shared<HostAddArgs>();
  CLI::App* a = host->add_subcommand("add", "pre-register a host");
  a->add_option("hostname", add->hostname, "primary DNS name")->required();
  a->add_option("--alias", add->aliases, "an approved alias (repeatable)");
  OnRun(a, action, [&g, add] {
    return RunAdmin(
        g, Method::kPost, "/v1/hosts", {{"hostname", add->hostname}, {"aliases", add->aliases}},
        201, [add](const json& r) {
          std::cout << "host " << Cell(r, "host_id") << " added (" << add->hostname << ")\n";
        });
  });

  CLI::App* list = host->add_subcommand("list", "list hosts");
  OnRun(list, action, [&g] {
    return RunAdmin(g, Method::kGet, "/v1/hosts", json(), 200, [](const json& r) {
      std::cout << FormatTable(
          {"HOST_ID", "HOSTNAME", "ALIASES", "PREREGISTERED", "CREATED"},
          RowsOf(r.value("hosts", json::array()),
                 {"host_id", "hostname", "aliases", "preregistered", "created_at"}));
    });
  });

  auto id = std::make_shared<std::string>();
  CLI::App* show = host->add_subcommand("show", "a host, its names and certificates");
  show->add_option("host", *id, "host ID or name")->required();
  OnRun(show, action, [&g, id] {
    return RunAdmin(g, Method::kGet, "/v1/hosts/" + UrlEncode(*id), json(), 200, RenderHost);
  });
  AddHostActionCommands(*host, g, action);
}

void AddMappingCommands(CLI::App& app, const Globals& g, Action* action) {
  CLI::App* mapping = app.add_subcommand("mapping", "names waiting for approval (admin)");
  mapping->require_subcommand(1);
  CLI::App* list = mapping->add_subcommand("list", "list names waiting for approval");
  OnRun(list, action, [&g] {
    return RunAdmin(g, Method::kGet, "/v1/mappings", json(), 200, [](const json& r) {
      std::cout << FormatTable(
          {"ID", "HOST_ID", "NAME", "REQUESTED", "CONFLICT_HOST_ID"},
          RowsOf(r.value("mappings", json::array()),
                 {"id", "host_id", "name", "requested_at", "conflict_host_id"}));
    });
  });
  for (const std::string verb : {"approve", "reject"}) {
    auto id = std::make_shared<std::string>();
    CLI::App* cmd = mapping->add_subcommand(verb, verb + " a mapping");
    cmd->add_option("id", *id, "mapping ID (from mapping list)")->required();
    OnRun(cmd, action, [&g, id, verb] {
      return RunAdmin(g, Method::kPost, "/v1/mappings/" + UrlEncode(*id) + "/" + verb,
                      json::object(), 200, [](const json& r) {
                        std::cout << "mapping " << Cell(r, "id") << " " << Cell(r, "result")
                                  << "\n";
                      });
    });
  }
}

}  // namespace

void AddAdminCommands(CLI::App& app, const Globals& g, Action* action) {
  AddTokenCommands(app, g, action);
  AddHostAdminCommands(app, g, action);
  AddMappingCommands(app, g, action);
}

}  // namespace hostca::cli
