// The systemd units of conf/ as the tests read them: the [Service] keys,
// ExecStart split into words, and the unit with its installed programs
// (/usr/local/bin/hostca-server, /usr/local/bin/hostca) replaced by the
// built ones, for `systemd-analyze verify`, which checks that they exist.
// And a unit's SystemCallFilter= built by hand, for a process the tests
// start without systemd.
#pragma once

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <regex>
#include <set>
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

// The system calls of a systemd set such as "@system-service", as this
// machine's systemd expands it (`systemd-analyze syscall-filter`, groups
// within groups followed): what SystemCallFilter=SET lets a unit call.
inline std::set<std::string> SyscallSet(const std::string& set) {
  std::set<std::string> calls, seen;
  std::vector<std::string> todo = {set};
  while (!todo.empty()) {
    const std::string group = todo.back();
    todo.pop_back();
    if (!seen.insert(group).second) {
      continue;
    }
    const CommandResult listed = RunShell("systemd-analyze syscall-filter " + group);
    if (listed.exit_code != 0) {
      throw std::runtime_error("systemd-analyze syscall-filter " + group + " failed");
    }
    std::istringstream in(listed.output);
    std::string line;
    std::getline(in, line);  // the group's own name
    for (std::string word; in >> word;) {
      if (word.front() == '#') {
        std::getline(in, line);  // a comment line
      } else if (word.front() == '@') {
        todo.push_back(word);
      } else {
        calls.insert(word);
      }
    }
  }
  return calls;
}

// The kernel's numbers of the x86-64 system calls, by name, from the
// kernel headers Debian installs with the compiler (linux-libc-dev).
inline std::map<std::string, int> X86_64SyscallNumbers() {
  auto header = ReadFile("/usr/include/x86_64-linux-gnu/asm/unistd_64.h");
  if (!header.ok()) {
    throw std::runtime_error(header.status().ToString());
  }
  std::map<std::string, int> numbers;
  static const std::regex define("#define __NR_([a-z0-9_]+) ([0-9]+)");
  for (std::sregex_iterator it(header->begin(), header->end(), define), end; it != end; ++it) {
    numbers[(*it)[1]] = std::stoi((*it)[2]);
  }
  return numbers;
}

// A seccomp program that does what systemd makes of
// `SystemCallArchitectures=native` and `SystemCallFilter=` with the calls
// `allowed` on x86-64: any other architecture's call (i386, x32) and any
// call not allowed get `refused` (systemd's SystemCallErrorNumber=EPERM is
// SECCOMP_RET_ERRNO | EPERM; SECCOMP_RET_KILL_PROCESS makes every refusal
// visible). Written out by hand because libseccomp, which systemd builds its
// filters with, is not one of hostca's dependencies, and the program is
// only a list of comparisons: two instructions a call, well under the
// kernel's 4096.
inline std::vector<sock_filter> SyscallFilterProgram(const std::set<std::string>& allowed,
                                                     uint32_t refused) {
  constexpr uint32_t kX32Bit = 0x40000000;  // __X32_SYSCALL_BIT
  std::vector<sock_filter> code = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, refused),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, kX32Bit, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, refused),
  };
  const std::map<std::string, int> numbers = X86_64SyscallNumbers();
  for (const std::string& name : allowed) {
    // Calls of other architectures (e.g. arm_fadvise64_64) have no number here.
    if (auto it = numbers.find(name); it != numbers.end()) {
      code.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(it->second), 0, 1));
      code.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    }
  }
  code.push_back(BPF_STMT(BPF_RET | BPF_K, refused));
  return code;
}

}  // namespace hostca::testing
