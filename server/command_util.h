// What the hostca-server subcommands (main.cpp, backup_commands.cpp) share
// to report a failed step.
#pragma once

#include <iostream>
#include <string_view>

#include "common/status.h"

namespace hostca::server {

// Prints "hostca-server[ COMMAND]: <error>" to stderr and returns the exit
// code of a failed command, 1.
inline int CommandFailed(std::string_view command, const Status& st) {
  std::cerr << "hostca-server" << (command.empty() ? "" : " ") << command << ": " << st.ToString()
            << "\n";
  return 1;
}

}  // namespace hostca::server
