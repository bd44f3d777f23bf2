#include "cli/output.h"

#include <algorithm>
#include <iostream>

namespace hostca::cli {

std::string FormatTable(const Row& headers, const std::vector<Row>& rows) {
  std::vector<size_t> width(headers.size(), 0);
  const auto measure = [&](const Row& row) {
    for (size_t i = 0; i < width.size() && i < row.size(); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  };
  measure(headers);
  std::for_each(rows.begin(), rows.end(), measure);
  std::string out;
  const auto emit = [&](const Row& row) {
    std::string line;
    for (size_t i = 0; i < width.size(); ++i) {
      const std::string cell = i < row.size() ? row[i] : "";
      line += cell;
      if (i + 1 < width.size()) {
        line += std::string(width[i] - cell.size() + 2, ' ');
      }
    }
    while (!line.empty() && line.back() == ' ') {
      line.pop_back();
    }
    out += line + "\n";
  };
  emit(headers);
  std::for_each(rows.begin(), rows.end(), emit);
  return out;
}

std::string FormatFields(const std::vector<std::pair<std::string, std::string>>& fields) {
  size_t width = 0;
  for (const auto& [key, value] : fields) {
    width = std::max(width, key.size());
  }
  std::string out;
  for (const auto& [key, value] : fields) {
    out += key + ":" + std::string(width - key.size() + 2, ' ') + value + "\n";
  }
  return out;
}

std::string Cell(const nlohmann::json& object, const std::string& key) {
  if (!object.is_object() || !object.contains(key)) {
    return "-";
  }
  const nlohmann::json& v = object[key];
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    return s.empty() ? "-" : s;
  }
  if (v.is_boolean()) {
    return v.get<bool>() ? "yes" : "no";
  }
  if (v.is_number()) {
    return v.dump();
  }
  if (v.is_array()) {
    std::string out;
    for (const nlohmann::json& item : v) {
      out += (out.empty() ? "" : ",") + (item.is_string() ? item.get<std::string>() : item.dump());
    }
    return out.empty() ? "-" : out;
  }
  return v.is_null() ? "-" : v.dump();
}

void PrintJson(const nlohmann::json& doc) {
  // Replace invalid UTF-8 (say, from a file name) instead of throwing.
  std::cout << doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n"
            << std::flush;
}

int ReportError(const Status& status, bool json) {
  std::cerr << "hostca: " << status.ToString() << "\n";
  if (json) {
    PrintJson({{"error", {{"code", status.reason()}, {"message", status.message()}}}});
  }
  return 1;
}

}  // namespace hostca::cli
