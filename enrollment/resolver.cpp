#include "enrollment/resolver.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

namespace hostca::enrollment {

std::vector<std::string> SystemResolver::Resolve(const std::string& hostname) {
  std::vector<std::string> out;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(hostname.c_str(), nullptr, &hints, &res) != 0) {
    return out;
  }
  for (addrinfo* p = res; p != nullptr; p = p->ai_next) {
    char buf[INET6_ADDRSTRLEN] = {0};
    if (p->ai_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(p->ai_addr)->sin_addr, buf, sizeof(buf));
    } else if (p->ai_family == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(p->ai_addr)->sin6_addr, buf,
                sizeof(buf));
    }
    if (buf[0] != '\0') {
      out.emplace_back(buf);
    }
  }
  freeaddrinfo(res);
  return out;
}

}  // namespace hostca::enrollment
