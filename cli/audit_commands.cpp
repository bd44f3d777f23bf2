// Admin commands: audit list, audit verify (DESIGN.md section 10).
#include <iostream>
#include <memory>

#include "cli/audit_chain.h"
#include "cli/commands.h"
#include "cli/output.h"

namespace hostca::cli {
namespace {

using nlohmann::json;

constexpr size_t kPageSize = 1000;

struct AuditListArgs {
  int64_t from = 0;   // 0: server default (1)
  int64_t limit = 0;  // 0: server default
};

void RenderAudit(const json& r) {
  std::vector<Row> rows;
  for (const json& e : r.value("entries", json::array())) {
    rows.push_back(
        {Cell(e, "seq"), Cell(e, "time"), Cell(e, "actor"), Cell(e, "action"), Cell(e, "detail")});
  }
  std::cout << FormatTable({"SEQ", "TIME", "ACTOR", "ACTION", "DETAIL"}, rows);
}

// Pages through GET /v1/audit from seq 1 until an empty page, feeding each
// entry to `verifier`. Stops at the first broken link.
Status VerifyAll(const Globals& g, AuditChainVerifier& verifier) {
  while (true) {
    const std::string path =
        "/v1/audit" + QueryString({{"from", std::to_string(verifier.next_seq())},
                                   {"limit", std::to_string(kPageSize)}});
    HOSTCA_ASSIGN_OR_RETURN(json page, AdminCall(g, Method::kGet, path, json(), 200));
    if (!page.contains("entries") || !page["entries"].is_array()) {
      return Internal("GET /v1/audit did not answer {entries: [...]}", "bad_response");
    }
    if (page["entries"].empty()) {
      return Status::Ok();
    }
    const uint64_t before = verifier.next_seq();
    for (const json& entry : page["entries"]) {
      HOSTCA_RETURN_IF_ERROR(verifier.Add(entry));
    }
    if (verifier.next_seq() == before) {
      return Internal("GET /v1/audit did not advance", "bad_response");
    }
  }
}

int AuditVerify(const Globals& g) {
  AuditChainVerifier verifier;
  const Status st = VerifyAll(g, verifier);
  if (!st.ok() && !verifier.bad_seq().has_value()) {
    return ReportError(st, g.json);  // could not read the log
  }
  if (g.json) {
    json out = {{"ok", st.ok()}, {"entries", verifier.count()}};
    if (!st.ok()) {
      out["bad_seq"] = *verifier.bad_seq();
      out["message"] = st.message();
    }
    PrintJson(out);
  }
  if (!st.ok()) {
    std::cerr << "hostca: " << st.ToString() << "\n";
    return 1;
  }
  if (!g.json) {
    std::cout << "audit chain OK: " << verifier.count() << " entries\n";
  }
  return 0;
}

}  // namespace

void AddAuditCommands(CLI::App& app, const Globals& g, Action* action) {
  CLI::App* audit = app.add_subcommand("audit", "the audit log (admin)");
  audit->require_subcommand(1);
  auto args = std::make_shared<AuditListArgs>();
  CLI::App* list = audit->add_subcommand("list", "show audit entries");
  list->add_option("--from", args->from, "first seq (default 1)")->check(CLI::PositiveNumber);
  list->add_option("--limit", args->limit, "at most this many (default 1000)")
      ->check(CLI::PositiveNumber);
  OnRun(list, action, [&g, args] {
    const std::string path =
        "/v1/audit" + QueryString({{"from", args->from > 0 ? std::to_string(args->from) : ""},
                                   {"limit", args->limit > 0 ? std::to_string(args->limit) : ""}});
    return RunAdmin(g, Method::kGet, path, json(), 200, RenderAudit);
  });
  CLI::App* verify = audit->add_subcommand("verify", "check the audit log's hash chain");
  OnRun(verify, action, [&g] { return AuditVerify(g); });
}

}  // namespace hostca::cli
