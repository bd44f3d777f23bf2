#include "server/running_server.h"

#include <httplib.h>
#include <unistd.h>

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

}  // namespace

Status WriteServeFile(const std::string& data_dir, const std::string& https_host, int https_port,
                      const std::string& http_host, int http_port) {
  const nlohmann::json j = {{"pid", static_cast<int64_t>(::getpid())},
                            {"https_host", https_host},
                            {"https_port", https_port},
                            {"http_host", http_host},
                            {"http_port", http_port}};
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
  // Trust: the CA of this data directory, and the name the server's own
  // certificate carries.
  std::string trust;
  for (const std::string& file : {layout.ca_crt(), layout.ca_chain()}) {
    if (FileExists(file)) {
      HOSTCA_ASSIGN_OR_RETURN(const std::string pem, ReadFile(file));
      trust += pem;
    }
  }
  HOSTCA_ASSIGN_OR_RETURN(X509StorePtr store, TrustStoreFromPem(trust));
  HOSTCA_ASSIGN_OR_RETURN(const std::string tls_pem, ReadFile(layout.tls_crt()));
  HOSTCA_ASSIGN_OR_RETURN(X509Ptr tls_cert, CertFromPem(tls_pem));
  const std::vector<std::string> names = SanDnsNames(tls_cert.get());
  const std::string tls_name = names.empty() ? host : names.front();

  httplib::SSLClient client(tls_name, port);
  client.set_hostname_addr_map({{tls_name, host}});
  client.set_ca_cert_store(store.release());  // httplib owns it from here
  client.enable_server_certificate_verification(true);
  client.set_bearer_token_auth(token->c_str());
  client.set_connection_timeout(std::chrono::seconds(10));
  // A tidy of a large store runs for a while.
  client.set_read_timeout(std::chrono::seconds(600));
  const std::string url = "https://" + tls_name + ":" + std::to_string(port) + " (" + host + ")";
  auto res = client.Post(path, body.dump(), "application/json");
  if (!res) {
    std::string why = httplib::to_string(res.error());
    if (res.error() == httplib::Error::SSLServerVerification) {
      why += ": its certificate does not chain to " + layout.ca_crt() + " or does not name " +
             tls_name;
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
