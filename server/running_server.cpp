#include "server/running_server.h"

#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "common/file.h"
#include "common/pem.h"
#include "server/layout.h"

namespace hostca::server {
namespace {

Status Unreachable(const std::string& why) {
  return Unavailable(
      "the store is held by a running server, and " + why +
          " (stop the server to run this command on its own, or call the server's API)",
      "server_unreachable");
}

// A wildcard listen address is reached on the loopback of its family.
// serve.json holds hosts as SplitHostPort gave them: never empty, no brackets.
std::string ConnectHost(const std::string& listen_host) {
  if (listen_host == "0.0.0.0") {
    return "127.0.0.1";
  }
  return listen_host == "::" ? "::1" : listen_host;
}

// The leaves serve.json names, and what the handshake met.
struct Pins {
  std::vector<std::string> sha256;
  std::string presented;  // the SHA-256 of the refused leaf, if one was
};

// The client's whole check of the server's certificate when serve.json
// names its leaves: X509_verify_cert (chain, dates, names) is replaced by
// an exact match, which also holds for another CA's certificate.
int CheckPinnedLeaf(X509_STORE_CTX* ctx, void* arg) {
  auto* pins = static_cast<Pins*>(arg);
  X509* leaf = X509_STORE_CTX_get0_cert(ctx);
  if (leaf != nullptr) {
    if (auto fp = CertFingerprintSha256(leaf); fp.ok()) {
      if (std::find(pins->sha256.begin(), pins->sha256.end(), *fp) != pins->sha256.end()) {
        return 1;
      }
      pins->presented = *fp;
    }
  }
  X509_STORE_CTX_set_error(ctx, X509_V_ERR_CERT_REJECTED);
  return 0;
}

// serve.json's "tls_sha256", or an empty list when it has none (a server
// of an older version) or it is not a list of fingerprints.
std::vector<std::string> PinsOf(const nlohmann::json& where) {
  std::vector<std::string> out;
  const auto it = where.find("tls_sha256");
  if (it == where.end() || !it->is_array()) {
    return out;
  }
  for (const nlohmann::json& fp : *it) {
    if (!fp.is_string() || fp.get<std::string>().size() != 64) {
      return {};
    }
    out.push_back(fp.get<std::string>());
  }
  return out;
}

}  // namespace

Status WriteServeFile(const std::string& data_dir, const std::string& https_host, int https_port,
                      const std::string& http_host, int http_port,
                      const std::vector<std::string>& tls_sha256) {
  const nlohmann::json j = {{"pid", static_cast<int64_t>(::getpid())},
                            {"https_host", https_host},
                            {"https_port", https_port},
                            {"http_host", http_host},
                            {"http_port", http_port},
                            {"tls_sha256", tls_sha256}};
  return WriteFileAtomic(DataLayout(data_dir).serve_json(), j.dump() + "\n", 0644);
}

void RemoveServeFile(const std::string& data_dir) {
  std::remove(DataLayout(data_dir).serve_json().c_str());
}

Result<nlohmann::json> PostToRunningServer(const std::string& data_dir, const std::string& path,
                                           const nlohmann::json& body) {
  const DataLayout layout(data_dir);
  auto serve = ReadFile(layout.serve_json());
  if (!serve.ok()) {
    return Unreachable(layout.serve_json() + " says nowhere where it listens");
  }
  const nlohmann::json where = nlohmann::json::parse(*serve, nullptr, false);
  if (!where.is_object() || !where.contains("https_host") || !where["https_host"].is_string() ||
      !where.contains("https_port") || !where["https_port"].is_number_integer()) {
    return Unreachable(layout.serve_json() + " is not what hostca-server serve writes");
  }
  const std::string host = ConnectHost(where["https_host"].get<std::string>());
  const int port = where["https_port"].get<int>();
  auto token = ReadSecretFile(layout.admin_token());
  if (!token.ok()) {
    return Unreachable("its admin token cannot be read: " + token.status().message());
  }
  // The name sent (SNI) is the first DNS name of the server's own
  // certificate.
  HOSTCA_ASSIGN_OR_RETURN(const std::string tls_pem, ReadFile(layout.tls_crt()));
  HOSTCA_ASSIGN_OR_RETURN(X509Ptr tls_cert, CertFromPem(tls_pem));
  const std::vector<std::string> names = SanDnsNames(tls_cert.get());
  const std::string tls_name = names.empty() ? host : names.front();

  Pins pins{PinsOf(where), ""};  // outlives the client, whose handshakes use it
  if (pins.sha256.empty()) {
    return Unreachable(layout.serve_json() +
                       " names none of its certificates (a server of an older version: restart "
                       "it)");
  }
  httplib::SSLClient client(tls_name, port);
  client.set_hostname_addr_map({{tls_name, host}});
  // httplib 0.11 has no verifier hook: with its own check off it leaves the
  // context's verify mode alone, so this callback alone decides, and a
  // refusal ends the handshake before anything is sent.
  client.enable_server_certificate_verification(false);
  SSL_CTX_set_verify(client.ssl_context(), SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_cert_verify_callback(client.ssl_context(), CheckPinnedLeaf, &pins);
  client.set_bearer_token_auth(token->c_str());
  client.set_connection_timeout(std::chrono::seconds(10));
  // A tidy of a large store runs for a while.
  client.set_read_timeout(std::chrono::seconds(600));
  const std::string url = "https://" + tls_name + ":" + std::to_string(port) + " (" + host + ")";
  auto res = client.Post(path, body.dump(), "application/json");
  if (!res) {
    std::string why = httplib::to_string(res.error());
    if (!pins.presented.empty()) {
      why += ": it presents a certificate (SHA-256 " + pins.presented + ") that " +
             layout.serve_json() + " does not name";
    }
    return Unreachable("it cannot be reached at " + url + ": " + why);
  }
  const nlohmann::json answer = nlohmann::json::parse(res->body, nullptr, false);
  if (res->status >= 200 && res->status < 300) {
    if (answer.is_discarded()) {
      return Internal("the server at " + url + " answered " + path + " with no JSON");
    }
    return answer;
  }
  if (answer.is_object() && answer.contains("error") && answer["error"].is_object()) {
    const nlohmann::json& e = answer["error"];
    return Status(CodeForHttpStatus(res->status),
                  e.value("message", std::string("the server refused the request")),
                  e.value("code", std::string()));
  }
  return Status(CodeForHttpStatus(res->status),
                "the server at " + url + " answered " + std::to_string(res->status));
}

}  // namespace hostca::server
