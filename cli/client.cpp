#include "cli/client.h"

#include <openssl/ssl.h>

#include <cctype>

#include "common/pem.h"

namespace hostca::cli {

Result<ServerUrl> ParseServerUrl(const std::string& url) {
  const std::string prefix = "https://";
  if (url.rfind(prefix, 0) != 0) {
    return InvalidArgument("server URL must start with https:// (got '" + url + "')");
  }
  std::string rest = url.substr(prefix.size());
  while (!rest.empty() && rest.back() == '/') {
    rest.pop_back();
  }
  if (rest.empty() || rest.find('/') != std::string::npos) {
    return InvalidArgument("server URL must be https://HOST[:PORT] (got '" + url + "')");
  }
  ServerUrl out;
  const auto bracket = rest.find(']');
  const auto colon = rest.rfind(':');
  if (colon != std::string::npos && (bracket == std::string::npos || colon > bracket)) {
    out.host = rest.substr(0, colon);
    const std::string port = rest.substr(colon + 1);
    if (port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string::npos) {
      return InvalidArgument("bad port in server URL '" + url + "'");
    }
    out.port = std::stoi(port);
  } else {
    out.host = rest;
  }
  if (out.host.size() >= 2 && out.host.front() == '[' && out.host.back() == ']') {
    out.host = out.host.substr(1, out.host.size() - 2);
  }
  if (out.host.empty() || out.port <= 0 || out.port > 65535) {
    return InvalidArgument("bad server URL '" + url + "'");
  }
  return out;
}

std::string UrlEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0x0f]);
    }
  }
  return out;
}

std::string QueryString(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out;
  for (const auto& [key, value] : params) {
    if (value.empty()) {
      continue;
    }
    out += out.empty() ? "?" : "&";
    out += UrlEncode(key) + "=" + UrlEncode(value);
  }
  return out;
}

Result<std::unique_ptr<ApiClient>> ApiClient::Create(const ServerUrl& url,
                                                     const std::string& ca_pem) {
  return Create(url, ca_pem, nullptr);
}

Result<std::unique_ptr<ApiClient>> ApiClient::Create(const ServerUrl& url,
                                                     const std::string& ca_pem,
                                                     const ClientCertificate* client_cert) {
  std::unique_ptr<httplib::SSLClient> http;
  if (client_cert != nullptr) {
    if (ca_pem.empty()) {
      return InvalidArgument("a client certificate needs a pinned CA");
    }
    if (X509_check_private_key(client_cert->cert.get(), client_cert->key.get()) != 1) {
      return OpenSslError("the host key does not match the host certificate",
                          Code::kInvalidArgument, "key_mismatch");
    }
    // httplib's SSL_CTX takes its own references to the certificate and key.
    http = std::make_unique<httplib::SSLClient>(url.host, url.port, client_cert->cert.get(),
                                                client_cert->key.get());
    if (!http->is_valid()) {
      return OpenSslError("cannot set up the TLS client certificate");
    }
    // Only the chain given is sent: without NO_AUTO_CHAIN OpenSSL would
    // build one from the pinned CA store on every handshake (a chain
    // verification) and send the CA too, which the server then parses
    // (about 1.6 million instructions with OpenSSL 3.0) and already holds.
    SSL_CTX_set_mode(http->ssl_context(), SSL_MODE_NO_AUTO_CHAIN);
    for (const X509Ptr& c : client_cert->chain) {
      if (X509_check_issued(c.get(), c.get()) == X509_V_OK) {
        continue;  // a root: the server has it already
      }
      if (SSL_CTX_add1_chain_cert(http->ssl_context(), c.get()) != 1) {
        return OpenSslError("cannot add the client certificate chain");
      }
    }
  } else {
    http = std::make_unique<httplib::SSLClient>(url.host, url.port);
  }
  http->set_connection_timeout(std::chrono::seconds(10));
  http->set_read_timeout(std::chrono::seconds(30));
  std::unique_ptr<ApiClient> client(new ApiClient(std::move(http)));
  if (ca_pem.empty()) {
    client->client_->enable_server_certificate_verification(false);
    return client;
  }
  HOSTCA_RETURN_IF_ERROR(client->Pin(ca_pem));
  return client;
}

Status ApiClient::Pin(const std::string& ca_pem) {
  HOSTCA_ASSIGN_OR_RETURN(store_, TrustStoreFromPem(ca_pem));
  // httplib takes ownership of the store it is given; hand it its own reference.
  X509_STORE_up_ref(store_.get());
  client_->set_ca_cert_store(store_.get());
  client_->enable_server_certificate_verification(true);
  return Status::Ok();
}

void ApiClient::SetBearerToken(const std::string& token) {
  client_->set_bearer_token_auth(token.c_str());
}

Result<ApiResponse> ApiClient::Finish(const httplib::Result& res) {
  if (!res) {
    std::string why = httplib::to_string(res.error());
    if (res.error() == httplib::Error::SSLServerVerification) {
      why +=
          " (the server's certificate does not chain to the pinned CA or does not match the "
          "host name)";
    }
    return Unavailable("cannot reach the server: " + why, "connection_failed");
  }
  ApiResponse out;
  out.status = res->status;
  out.raw = res->body;
  out.date = res->get_header_value("Date");
  out.etag = res->get_header_value("ETag");
  out.body = nlohmann::json::parse(res->body, nullptr, false);
  if (out.body.is_discarded()) {
    out.body = nullptr;
  }
  return out;
}

Result<ApiResponse> ApiClient::Get(const std::string& path) { return Finish(client_->Get(path)); }

Result<ApiResponse> ApiClient::Get(const std::string& path, const httplib::Headers& headers) {
  return Finish(client_->Get(path, headers));
}

Result<ApiResponse> ApiClient::Post(const std::string& path, const nlohmann::json& body) {
  return Finish(client_->Post(path, body.dump(), "application/json"));
}

Result<ApiResponse> ApiClient::Put(const std::string& path, const nlohmann::json& body) {
  return Finish(client_->Put(path, body.dump(), "application/json"));
}

Result<ApiResponse> ApiClient::Delete(const std::string& path) {
  return Finish(client_->Delete(path));
}

Result<ApiResponse> ApiClient::Call(Method method, const std::string& path,
                                    const nlohmann::json& body) {
  switch (method) {
    case Method::kGet:
      return Get(path);
    case Method::kPost:
      return Post(path, body);
    case Method::kPut:
      return Put(path, body);
    case Method::kDelete:
      return Delete(path);
  }
  return Internal("unknown HTTP method");
}

Status ErrorFromResponse(const ApiResponse& res) {
  std::string code = "http_" + std::to_string(res.status);
  std::string message = res.raw.empty() ? "unexpected answer" : res.raw;
  if (res.body.is_object() && res.body.contains("error") && res.body["error"].is_object()) {
    const nlohmann::json& err = res.body["error"];
    if (err.contains("code") && err["code"].is_string()) {
      code = err["code"].get<std::string>();
    }
    if (err.contains("message") && err["message"].is_string()) {
      message = err["message"].get<std::string>();
    }
  }
  return Status(CodeForHttpStatus(res.status),
                message + " (HTTP " + std::to_string(res.status) + ")", code);
}

Result<ApiResponse> ExpectStatus(Result<ApiResponse> res, int want) {
  if (!res.ok()) {
    return res.status();
  }
  if (res->status != want) {
    return ErrorFromResponse(*res);
  }
  return res;
}

}  // namespace hostca::cli
