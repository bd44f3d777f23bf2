// The systemd units of conf/ as the tests read them: the [Service] keys,
// ExecStart split into words, and the unit with its installed programs
// (/usr/local/bin/hostca-server, /usr/local/bin/hostca) replaced by the
// built ones, for `systemd-analyze verify`, which checks that they exist.
#pragma once

#include <map>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/file.h"
#include "tests/testutil.h"

namespace hostca::testing {

// conf/NAME from the source tree.
inline std::string ReadUnit(const std::string& name) {
  auto unit = ReadFile(std::string(HOSTCA_SOURCE_DIR) + "/conf/" + name);
  if (!unit.ok()) {
    throw std::runtime_error(unit.status().ToString());
  }
  return *unit;
}

// The [Service] section's keys, each with its last value.
inline std::map<std::string, std::string> ServiceKeys(const std::string& unit) {
  std::map<std::string, std::string> keys;
  std::istringstream in(unit);
  std::string line, section;
  while (std::getline(in, line)) {
    if (!line.empty() && line.front() == '[') {
      section = line;
    } else if (section == "[Service]" && !line.empty() && line.front() != '#') {
      const size_t eq = line.find('=');
      if (eq != std::string::npos) {
        keys[line.substr(0, eq)] = line.substr(eq + 1);
      }
    }
  }
  return keys;
}

// A command line of plain words (the units quote nothing).
inline std::vector<std::string> Words(const std::string& command) {
  std::istringstream in(command);
  std::vector<std::string> words;
  for (std::string w; in >> w;) {
    words.push_back(w);
  }
  return words;
}

inline std::string WithBuiltPrograms(const std::string& unit) {
  static const std::regex installed("/usr/local/bin/(hostca-server|hostca)\\b");
  return std::regex_replace(unit, installed, std::string(HOSTCA_BINARY_DIR) + "/bin/$1");
}

}  // namespace hostca::testing
