// Output of the `hostca` client: aligned tables and "key: value" blocks for
// people, one JSON document for scripts, and the one error format
// ("hostca: <code>: <message>" on stderr). Thread-compatible (writes to the
// process's stdout/stderr).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace hostca::cli {

using Row = std::vector<std::string>;

// Columns aligned and separated by two spaces, header row first, no trailing
// blanks, one line per row, each ending in "\n". Rows shorter than the header
// are padded with empty cells.
std::string FormatTable(const Row& headers, const std::vector<Row>& rows);

// "key:   value" lines with the values aligned one column after the longest key.
std::string FormatFields(const std::vector<std::pair<std::string, std::string>>& fields);

// A JSON member as table text: strings as they are, numbers as digits,
// booleans "yes"/"no", arrays joined with ",", missing/null/"" as "-".
std::string Cell(const nlohmann::json& object, const std::string& key);

// Writes `doc` and a newline to stdout.
void PrintJson(const nlohmann::json& doc);

// Reports a failed command and returns exit code 1: "hostca: <code>: <message>"
// on stderr, and with `json` also {"error": {"code", "message"}} on stdout so
// scripts always get one document.
int ReportError(const Status& status, bool json);

}  // namespace hostca::cli
