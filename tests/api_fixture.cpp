#include "tests/api_fixture.h"

#include <openssl/ec.h>
#include <openssl/x509.h>

#include <catch2/catch.hpp>
#include <chrono>

namespace hostca::testing {
namespace {

int64_t RealNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

KeyAndCsr MakeCsr(const std::string& cn, const std::vector<std::string>& san_dns) {
  KeyAndCsr out;
  out.key.reset(EVP_EC_gen("P-256"));
  X509ReqPtr req(X509_REQ_new());
  X509_REQ_set_version(req.get(), 0);
  X509_NAME* name = X509_REQ_get_subject_name(req.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_REQ_set_pubkey(req.get(), out.key.get());
  if (!san_dns.empty()) {
    std::string san;
    for (const auto& n : san_dns) {
      san += (san.empty() ? "DNS:" : ",DNS:") + n;
    }
    X509ExtStackPtr exts(sk_X509_EXTENSION_new_null());
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str());
    sk_X509_EXTENSION_push(exts.get(), ext);
    X509_REQ_add_extensions(req.get(), exts.get());
  }
  X509_REQ_sign(req.get(), out.key.get(), EVP_sha256());
  out.csr_pem = *CsrToPem(req.get());
  return out;
}

ApiFixture::ApiFixture(server::ServerOptions tweaks) : clock_(RealNow()) {
  data_dir_ = tmp_.Sub("ca");
  server::ServerOptions o = tweaks;
  o.data_dir = data_dir_;
  o.listen = "127.0.0.1:0";
  o.http_listen = "127.0.0.1:0";
  o.durable = tweaks.durable;
  server::InitOptions init;
  auto report = server::RunInit(o, init, clock_);
  if (!report.ok()) {
    throw std::runtime_error("init: " + report.status().ToString());
  }
  admin_token_ = *ReadFile(data_dir_ + "/admin.token");
  while (!admin_token_.empty() && admin_token_.back() == '\n') {
    admin_token_.pop_back();
  }
  ca_path_ = data_dir_ + "/ca.crt";
  auto server = server::Server::Create(
      o, clock_, &resolver_, [this](std::unique_ptr<storage::Storage> store) {
        auto wrapped = std::make_unique<storage::FaultInjectingStorage>(std::move(store));
        faults_ = wrapped.get();
        return std::unique_ptr<storage::Storage>(std::move(wrapped));
      });
  if (!server.ok()) {
    throw std::runtime_error("create: " + server.status().ToString());
  }
  server_ = std::move(*server);
  if (Status st = server_->Bind(); !st.ok()) {
    throw std::runtime_error("bind: " + st.ToString());
  }
  thread_ = std::thread([this] { server_->Run().IgnoreError(); });
  for (int i = 0; i < 500; ++i) {  // poll /healthz, bounded
    if (Call("GET", "/healthz").status == 200) {
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  throw std::runtime_error("server did not become healthy");
}

ApiFixture::~ApiFixture() { Stop(); }

void ApiFixture::Stop() {
  server_->Stop();
  if (thread_.joinable()) {
    thread_.join();
  }
}

HttpResult FromHttplib(const httplib::Result& res) {
  HttpResult out;
  if (!res) {
    out.status = -1;
    out.raw = httplib::to_string(res.error());
    return out;
  }
  out.status = res->status;
  out.raw = res->body;
  out.headers = res->headers;
  out.body = nlohmann::json::parse(res->body, nullptr, false);
  return out;
}

HttpResult ApiFixture::Call(const std::string& method, const std::string& path,
                            const nlohmann::json& body, const HostCreds* creds,
                            const std::string& bearer) {
  std::unique_ptr<httplib::SSLClient> cli =
      creds != nullptr ? std::make_unique<httplib::SSLClient>("localhost", https_port(),
                                                              creds->cert.get(), creds->key.get())
                       : std::make_unique<httplib::SSLClient>("localhost", https_port());
  cli->set_ca_cert_path(trust_path_.empty() ? ca_path_ : trust_path_);
  cli->enable_server_certificate_verification(true);
  httplib::Headers headers;
  if (!bearer.empty()) {
    headers.emplace("Authorization", "Bearer " + bearer);
  }
  const std::string payload = body.is_null() ? "" : body.dump();
  httplib::Result res =
      method == "GET"    ? cli->Get(path.c_str(), headers)
      : method == "POST" ? cli->Post(path.c_str(), headers, payload, "application/json")
      : method == "PUT"  ? cli->Put(path.c_str(), headers, payload, "application/json")
                         : cli->Delete(path.c_str(), headers);
  return FromHttplib(res);
}

HttpResult ApiFixture::Enroll(const std::string& hostname, const std::string& token,
                              HostCreds* out) {
  KeyAndCsr kc = MakeCsr(hostname);
  nlohmann::json body = {{"csr", kc.csr_pem}, {"hostname", hostname}};
  if (!token.empty()) {
    body["token"] = token;
  }
  HttpResult r = Call("POST", "/v1/enroll", body);
  if (r.status == 201 && out != nullptr) {
    out->host_id = r.body["host_id"];
    out->serial = r.body["serial"];
    out->cert_pem = r.body["certificate"];
    out->cert = std::move(*CertFromPem(out->cert_pem));
    out->key = std::move(kc.key);
  }
  return r;
}

HttpResult ApiFixture::Renew(HostCreds* creds) {
  KeyAndCsr kc = MakeCsr("renew");
  HttpResult r = Call("POST", "/v1/renew", {{"csr", kc.csr_pem}}, creds);
  if (r.status == 201) {
    creds->host_id = r.body["host_id"];
    creds->serial = r.body["serial"];
    creds->cert_pem = r.body["certificate"];
    creds->cert = std::move(*CertFromPem(creds->cert_pem));
    creds->key = std::move(kc.key);
  }
  return r;
}

std::string ApiFixture::CreateToken(const std::string& name, int max_uses,
                                    const std::string& host_id, int64_t ttl) {
  nlohmann::json body = {{"name", name}, {"max_uses", max_uses}, {"ttl_seconds", ttl}};
  if (!host_id.empty()) {
    body["host_id"] = host_id;
  }
  HttpResult r = AdminCall("POST", "/v1/tokens", body);
  if (r.status != 201) {
    throw std::runtime_error("token create: " + r.raw);
  }
  return r.body["token"];
}

std::string ApiFixture::SetLevel(const std::string& level) {
  HttpResult r = AdminCall("PUT", "/v1/security-level", {{"level", level}});
  return r.status == 200 ? std::string(r.body["level"]) : r.raw;
}

X509CrlPtr FetchCrl(int http_port) {
  httplib::Client c("127.0.0.1", http_port);
  auto r = c.Get("/crl");
  REQUIRE(r);
  REQUIRE(r->status == 200);
  auto crl = CrlFromPemOrDer(r->body);
  REQUIRE(crl.ok());
  return std::move(*crl);
}

int64_t CrlNumber(X509_CRL* crl) {
  Asn1IntegerPtr n(
      static_cast<ASN1_INTEGER*>(X509_CRL_get_ext_d2i(crl, NID_crl_number, nullptr, nullptr)));
  REQUIRE(n);
  int64_t v = 0;
  REQUIRE(ASN1_INTEGER_get_int64(&v, n.get()) == 1);
  return v;
}

}  // namespace hostca::testing
