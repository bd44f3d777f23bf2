// Tells a service manager (systemd with Type=notify) how the server is
// doing: the sd_notify(3) protocol, one datagram of "KEY=value" lines to
// the AF_UNIX socket named by the NOTIFY_SOCKET environment variable
// (a path, or "@name" for an abstract socket). Without that variable,
// every call does nothing, so a server started by hand or by another
// supervisor is not affected.
//
// Written here rather than linked from libsystemd: the protocol is one
// socket and one sendto, and libsystemd is not one of the dependencies of
// DESIGN.md section 2.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace hostca::server {

// Sends `state` (e.g. "READY=1\nSTATUS=serving") to $NOTIFY_SOCKET. Ok when
// the variable is unset or empty; invalid_argument when it names no socket
// this can reach (vsock addresses, a path too long for sockaddr_un);
// unavailable when the send fails (no one listens there).
Status NotifyServiceManager(std::string_view state);

}  // namespace hostca::server
