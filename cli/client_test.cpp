// What the hostca client sends in its TLS handshake: certificates made with
// openssl(1), a TLS server of plain OpenSSL on loopback that records the
// client's chain, and the client under test.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <thread>

#include "cli/client.h"
#include "common/file.h"
#include "common/pem.h"
#include "tests/testutil.h"

namespace hostca::cli {
namespace {

using hostca::testing::Run;
using hostca::testing::ShellQuote;
using hostca::testing::TempDir;

// A CA, a server certificate for localhost and a client certificate, all
// P-256, in `dir`.
void MakeCertificates(const std::string& dir) {
  const std::string d = ShellQuote(dir);
  const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes ";
  const std::vector<std::string> steps = {
      "openssl req -x509 " + ec + "-keyout ca.key -out ca.crt -days 2 -subj /CN=test-ca " +
          "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign",
      "openssl req " + ec + "-keyout server.key -out server.csr -subj /CN=localhost",
      "printf 'subjectAltName=DNS:localhost\\nextendedKeyUsage=serverAuth\\n' > server.ext",
      "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 "
      "-extfile server.ext -out server.crt",
      "openssl req " + ec + "-keyout host.key -out host.csr -subj /CN=host",
      "printf 'extendedKeyUsage=clientAuth\\n' > host.ext",
      "openssl x509 -req -in host.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 "
      "-extfile host.ext -out host.crt",
  };
  for (const std::string& step : steps) {
    const auto r = Run("cd " + d + " && " + step);
    INFO(step << "\n" << r.output);
    REQUIRE(r.exit_code == 0);
  }
}

int AcceptAny(int, X509_STORE_CTX*) { return 1; }

// Accepts one TLS connection on 127.0.0.1, asks for a client certificate,
// records how many certificates the client sent besides its own, and
// answers one HTTP request with 200 {}.
class RecordingServer {
 public:
  explicit RecordingServer(const std::string& dir) {
    ctx_.reset(SSL_CTX_new(TLS_server_method()));
    REQUIRE(ctx_);
    REQUIRE(SSL_CTX_use_certificate_chain_file(ctx_.get(), (dir + "/server.crt").c_str()) == 1);
    REQUIRE(SSL_CTX_use_PrivateKey_file(ctx_.get(), (dir + "/server.key").c_str(),
                                        SSL_FILETYPE_PEM) == 1);
    SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_PEER, AcceptAny);
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    REQUIRE(listen(fd_, 1) == 0);
    REQUIRE(getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~RecordingServer() {
    shutdown(fd_, SHUT_RDWR);
    if (thread_.joinable()) {
      thread_.join();
    }
    close(fd_);
  }
  int port() const { return port_; }
  // After the connection: certificates sent besides the leaf (-1: none
  // recorded).
  int ChainSent() {
    if (thread_.joinable()) {
      thread_.join();
    }
    return chain_sent_;
  }

 private:
  void Serve() {
    const int conn = accept(fd_, nullptr, nullptr);
    if (conn < 0) {
      return;
    }
    SSL* ssl = SSL_new(ctx_.get());
    SSL_set_fd(ssl, conn);
    if (SSL_accept(ssl) == 1) {
      // On a server the peer chain leaves out the peer's own certificate.
      STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);
      chain_sent_ = SSL_get0_peer_certificate(ssl) == nullptr ? -1
                    : chain == nullptr                        ? 0
                                                              : sk_X509_num(chain);
      std::string request;
      char buf[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        const int n = SSL_read(ssl, buf, sizeof(buf));
        if (n <= 0) {
          break;
        }
        request.append(buf, static_cast<size_t>(n));
      }
      const std::string answer =
          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
          "Connection: close\r\n\r\n{}";
      SSL_write(ssl, answer.data(), static_cast<int>(answer.size()));
      SSL_shutdown(ssl);
    }
    ERR_clear_error();
    SSL_free(ssl);
    close(conn);
  }

  SslCtxPtr ctx_;
  int fd_ = -1;
  int port_ = 0;
  int chain_sent_ = -1;
  std::thread thread_;
};

TEST_CASE("the client sends its host certificate alone, not the CA its store holds") {
  TempDir tmp;
  const std::string dir = tmp.path().string();
  MakeCertificates(dir);
  RecordingServer server(dir);
  ClientCertificate id;
  id.cert = std::move(*CertFromPem(*ReadFile(dir + "/host.crt")));
  id.key = std::move(*PrivateKeyFromPem(*ReadFile(dir + "/host.key")));
  // The chain file a host keeps (state.cpp) holds the CA: it is a root, so
  // it is not sent, and OpenSSL must not build it back from the pinned store.
  id.chain.push_back(std::move(*CertFromPem(*ReadFile(dir + "/ca.crt"))));
  auto client =
      ApiClient::Create(ServerUrl{"localhost", server.port()}, *ReadFile(dir + "/ca.crt"), &id);
  REQUIRE(client.ok());
  auto res = (*client)->Get("/v1/whoami");
  INFO((res.ok() ? std::string("answered") : res.status().ToString()));
  REQUIRE(res.ok());
  REQUIRE(server.ChainSent() == 0);
}

}  // namespace
}  // namespace hostca::cli
