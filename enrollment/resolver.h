// Resolver: looks up the addresses a host name resolves to, for the medium
// security level's check (DESIGN.md section 4). Injectable so tests drive it.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace hostca::enrollment {

class Resolver {
 public:
  virtual ~Resolver() = default;
  // Textual IPv4/IPv6 addresses of `hostname`; empty when it does not resolve.
  virtual std::vector<std::string> Resolve(const std::string& hostname) = 0;
};

// getaddrinfo(3). Thread-safe.
class SystemResolver final : public Resolver {
 public:
  std::vector<std::string> Resolve(const std::string& hostname) override;
};

// A fixed table, for tests. Thread-safe.
class StaticResolver final : public Resolver {
 public:
  void Set(const std::string& hostname, std::vector<std::string> addresses) {
    std::lock_guard<std::mutex> lock(mu_);
    table_[hostname] = std::move(addresses);
  }
  std::vector<std::string> Resolve(const std::string& hostname) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = table_.find(hostname);
    return it == table_.end() ? std::vector<std::string>{} : it->second;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::vector<std::string>> table_;  // GUARDED_BY(mu_)
};

}  // namespace hostca::enrollment
