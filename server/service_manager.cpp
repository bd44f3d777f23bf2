#include "server/service_manager.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace hostca::server {

Status NotifyServiceManager(std::string_view state) {
  const char* env = std::getenv("NOTIFY_SOCKET");
  if (env == nullptr || *env == '\0') {
    return Status::Ok();
  }
  const std::string_view name(env);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (name.front() != '/' && name.front() != '@') {
    return InvalidArgument("NOTIFY_SOCKET=" + std::string(name) +
                           " is neither a socket path nor an abstract socket (@name)");
  }
  if (name.size() >= sizeof(addr.sun_path)) {
    return InvalidArgument("NOTIFY_SOCKET is longer than a socket address can hold (" +
                           std::to_string(sizeof(addr.sun_path) - 1) + " bytes)");
  }
  std::memcpy(addr.sun_path, name.data(), name.size());
  if (name.front() == '@') {
    addr.sun_path[0] = '\0';  // abstract: the name's bytes after a NUL, no terminator
  }
  // A path's address length counts its terminating NUL; an abstract name's
  // counts exactly its bytes, as systemd binds it.
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() +
                                          (name.front() == '/' ? 1 : 0));
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return Unavailable(std::string("cannot open a socket to NOTIFY_SOCKET: ") +
                       std::strerror(errno));
  }
  const ssize_t sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                                reinterpret_cast<const sockaddr*>(&addr), len);
  const int err = errno;
  ::close(fd);
  if (sent != static_cast<ssize_t>(state.size())) {
    return Unavailable("cannot notify the service manager at NOTIFY_SOCKET=" + std::string(name) +
                       ": " + (sent < 0 ? std::strerror(err) : "short send"));
  }
  return Status::Ok();
}

}  // namespace hostca::server
