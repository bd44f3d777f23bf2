// The server that holds a data directory's store, seen from another process.
//
// One process writes a store at a time (storage.h: DATA/db/redo.ckpt is
// flocked by the writer). The commands that write it (`admin-cert`, `tidy`)
// open it themselves when no server runs, and otherwise ask the running
// server through its admin API:
//   - where: DATA/serve.json, which `serve` writes (0644, atomically) once
//     its listeners are bound and removes when it stops;
//   - as whom: the admin token in DATA/admin.token (the command can read the
//     data directory, so it may act as the admin);
//   - whom to trust: one of the certificates serve.json names by SHA-256
//     (every leaf the listener may present: its internal certificate, and
//     the SNI, external and default ones it was configured with). The
//     listener may present another CA's certificate, which DATA/ca.crt
//     cannot verify; serve.json is as trusted as admin.token beside it. The
//     name sent (SNI) is the first DNS name of DATA/tls/server.crt.
// A stale serve.json (after a crash) is never read: only a store held by a
// live process sends a command here.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"

namespace hostca::server {

// DATA/serve.json: {"pid", "https_host", "https_port", "http_host", "http_port",
// "tls_sha256"}, the last the lower-case hex SHA-256 of each leaf's DER.
Status WriteServeFile(const std::string& data_dir, const std::string& https_host, int https_port,
                      const std::string& http_host, int http_port,
                      const std::vector<std::string>& tls_sha256);
void RemoveServeFile(const std::string& data_dir);

// POSTs `body` to `path` (an admin route) of the server running on
// `data_dir` and returns its JSON answer. An error answer comes back as
// the Status it was made from (same code and reason); unavailable
// "server_unreachable" when serve.json is missing or the server cannot be
// reached or verified (the message says which, and how to go on).
Result<nlohmann::json> PostToRunningServer(const std::string& data_dir, const std::string& path,
                                           const nlohmann::json& body);

}  // namespace hostca::server
