// What `hostca-server --version` and `hostca --version` print.
#pragma once

#include <string>
#include <string_view>

namespace hostca {

// "PROGRAM 0.1.0 (OpenSSL 3.0.19 27 Jan 2026)": hostca's version (the
// project's, from CMake) and the OpenSSL library this process runs with,
// for bug reports.
std::string VersionLine(std::string_view program);

}  // namespace hostca
