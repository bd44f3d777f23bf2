#include "server/options.h"

#include <type_traits>

#include <toml++/toml.h>
#include <set>

namespace hostca::server {
namespace {

// Known keys per table; anything else is a typo and refused.
const std::set<std::string>& KnownKeys() {
  static const std::set<std::string> keys = {
      "server.listen",
      "server.http_listen",
      "server.public_url",
      "server.threads",
      "server.http_threads",
      "server.max_idle_connections",
      "server.max_body_bytes",
      "server.log_level",
      "ca.passphrase_file",
      "issuance.validity_days",
      "issuance.min_rsa_bits",
      "storage.initial_map_mib",
      "storage.max_map_gib",
      "storage.max_batch",
      "storage.durable",
      "storage.redo_log",
      "storage.checkpoint_ms",
      "storage.writeback_ms",
      "storage.mapped_mib",
      "crl.validity_days",
      "crl.republish_seconds",
      "tidy.retention_days",
      "tidy.interval_seconds",
      "external.trust_bundle",
      "external.crl_check",
      "external.crl_dir",
      "external.cdp_download",
      "external.cdp_refresh_seconds",
      "external.cdp_cache_dir",
      "external.identity",
      "external.server_cert",
      "external.server_key",
      "external.server_chain",
      "external.server_key_passphrase_file",
      "backup.directory",
      "backup.interval_seconds",
      "backup.keep",
      "backup.passphrase_file",
      "tls.sni_certificates",
      "tls.default_certificate",
      "tls.default_key",
  };
  return keys;
}

Status CheckUnknownKeys(const toml::table& root, const std::string& path) {
  for (const auto& [table_name, node] : root) {
    const auto* table = node.as_table();
    if (table == nullptr) {
      return InvalidArgument(
          path + ": top-level key '" + std::string(table_name.str()) +
          "' is not in a table ([server], [ca], [issuance], [crl], [tidy], [backup], "
          "[storage], [external], [tls])");
    }
    for (const auto& [key, value] : *table) {
      const std::string full = std::string(table_name.str()) + "." + std::string(key.str());
      if (KnownKeys().count(full) == 0) {
        return InvalidArgument(path + ": unknown key '" + full + "' (line " +
                               std::to_string(value.source().begin.line) + ")");
      }
    }
  }
  return Status::Ok();
}

template <typename T>
Status Get(const toml::table& root, const char* table, const char* key, const std::string& path,
           T* out) {
  const auto node = root[table][key];
  if (!node) {
    return Status::Ok();
  }
  // toml++'s value<T>() converts between kinds (a float to an integer
  // unchecked: undefined behaviour for 1e300, found by fuzz/config_fuzz;
  // true to 1): only the exact kind is accepted.
  bool exact = true;
  if constexpr (std::is_same_v<T, bool>) {
    exact = node.is_boolean();
  } else if constexpr (std::is_integral_v<T>) {
    exact = node.is_integer();
  }
  const auto value = exact ? node.value<T>() : std::nullopt;
  if (!value) {
    return InvalidArgument(path + ": key '" + std::string(table) + "." + key +
                           "' has the wrong type (line " +
                           std::to_string(node.node()->source().begin.line) + ")");
  }
  *out = *value;
  return Status::Ok();
}

// A path key of the file: relative paths are taken from the file's directory.
Status GetPath(const toml::table& root, const char* table, const char* key, const std::string& path,
               std::string* out) {
  std::string value;
  HOSTCA_RETURN_IF_ERROR(Get(root, table, key, path, &value));
  if (value.empty()) {
    return Status::Ok();
  }
  if (value.front() != '/') {
    const auto slash = path.rfind('/');
    value = (slash == std::string::npos ? std::string(".") : path.substr(0, slash)) + "/" + value;
  }
  *out = value;
  return Status::Ok();
}

// An array of path strings (relative ones from the file's directory).
Status GetPathList(const toml::table& root, const char* table, const char* key,
                   const std::string& path, std::vector<std::string>* out) {
  const auto node = root[table][key];
  if (!node) {
    return Status::Ok();
  }
  const auto* array = node.as_array();
  const std::string where = path + ": key '" + std::string(table) + "." + key + "' (line " +
                            std::to_string(node.node()->source().begin.line) + ")";
  if (array == nullptr) {
    return InvalidArgument(where + " must be an array of file names");
  }
  std::vector<std::string> values;
  for (const auto& element : *array) {
    const auto value = element.value<std::string>();
    if (!element.is_string() || !value || value->empty()) {
      return InvalidArgument(where + " must hold only non-empty file names");
    }
    std::string v = *value;
    if (v.front() != '/') {
      const auto slash = path.rfind('/');
      v = (slash == std::string::npos ? std::string(".") : path.substr(0, slash)) + "/" + v;
    }
    values.push_back(std::move(v));
  }
  *out = std::move(values);
  return Status::Ok();
}

}  // namespace

Status LoadConfigFile(const std::string& path, ServerOptions* o) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& err) {
    return InvalidArgument(path + ":" + std::to_string(err.source().begin.line) + ": " +
                           std::string(err.description()));
  }
  HOSTCA_RETURN_IF_ERROR(CheckUnknownKeys(root, path));
  HOSTCA_RETURN_IF_ERROR(Get(root, "server", "listen", path, &o->listen));
  HOSTCA_RETURN_IF_ERROR(Get(root, "server", "http_listen", path, &o->http_listen));
  HOSTCA_RETURN_IF_ERROR(Get(root, "server", "public_url", path, &o->public_url));
  HOSTCA_RETURN_IF_ERROR(Get(root, "server", "threads", path, &o->threads));
  HOSTCA_RETURN_IF_ERROR(Get(root, "server", "http_threads", path, &o->http_threads));
  HOSTCA_RETURN_IF_ERROR(
      Get(root, "server", "max_idle_connections", path, &o->max_idle_connections));
  HOSTCA_RETURN_IF_ERROR(Get(root, "server", "max_body_bytes", path, &o->max_body_bytes));
  HOSTCA_RETURN_IF_ERROR(Get(root, "server", "log_level", path, &o->log_level));
  HOSTCA_RETURN_IF_ERROR(Get(root, "ca", "passphrase_file", path, &o->passphrase_file));
  HOSTCA_RETURN_IF_ERROR(Get(root, "issuance", "validity_days", path, &o->validity_days));
  HOSTCA_RETURN_IF_ERROR(Get(root, "issuance", "min_rsa_bits", path, &o->min_rsa_bits));
  HOSTCA_RETURN_IF_ERROR(Get(root, "storage", "initial_map_mib", path, &o->initial_map_mib));
  HOSTCA_RETURN_IF_ERROR(Get(root, "storage", "max_map_gib", path, &o->max_map_gib));
  HOSTCA_RETURN_IF_ERROR(Get(root, "storage", "max_batch", path, &o->max_batch));
  HOSTCA_RETURN_IF_ERROR(Get(root, "storage", "durable", path, &o->durable));
  HOSTCA_RETURN_IF_ERROR(Get(root, "storage", "redo_log", path, &o->redo_log));
  HOSTCA_RETURN_IF_ERROR(Get(root, "storage", "checkpoint_ms", path, &o->checkpoint_ms));
  HOSTCA_RETURN_IF_ERROR(Get(root, "storage", "writeback_ms", path, &o->writeback_ms));
  HOSTCA_RETURN_IF_ERROR(Get(root, "storage", "mapped_mib", path, &o->mapped_mib));
  HOSTCA_RETURN_IF_ERROR(Get(root, "crl", "validity_days", path, &o->crl_validity_days));
  HOSTCA_RETURN_IF_ERROR(Get(root, "crl", "republish_seconds", path, &o->crl_republish_seconds));
  HOSTCA_RETURN_IF_ERROR(Get(root, "tidy", "retention_days", path, &o->tidy_retention_days));
  HOSTCA_RETURN_IF_ERROR(Get(root, "tidy", "interval_seconds", path, &o->tidy_interval_seconds));
  for (auto [key, out] :
       {std::pair{"trust_bundle", &o->external_trust_bundle},
        std::pair{"crl_dir", &o->external_crl_dir},
        std::pair{"cdp_cache_dir", &o->external_cdp_cache_dir},
        std::pair{"server_cert", &o->external_server_cert},
        std::pair{"server_key", &o->external_server_key},
        std::pair{"server_chain", &o->external_server_chain},
        std::pair{"server_key_passphrase_file", &o->external_server_key_passphrase_file}}) {
    HOSTCA_RETURN_IF_ERROR(GetPath(root, "external", key, path, out));
  }
  HOSTCA_RETURN_IF_ERROR(
      GetPathList(root, "tls", "sni_certificates", path, &o->tls_sni_certificates));
  HOSTCA_RETURN_IF_ERROR(
      GetPath(root, "tls", "default_certificate", path, &o->tls_default_certificate));
  HOSTCA_RETURN_IF_ERROR(GetPath(root, "tls", "default_key", path, &o->tls_default_key));
  if (o->tls_default_certificate.empty() && !o->tls_default_key.empty()) {
    return InvalidArgument(path + ": tls.default_key needs tls.default_certificate");
  }
  HOSTCA_RETURN_IF_ERROR(Get(root, "external", "crl_check", path, &o->external_crl_check));
  HOSTCA_RETURN_IF_ERROR(Get(root, "external", "cdp_download", path, &o->external_cdp_download));
  HOSTCA_RETURN_IF_ERROR(
      Get(root, "external", "cdp_refresh_seconds", path, &o->external_cdp_refresh_seconds));
  HOSTCA_RETURN_IF_ERROR(Get(root, "external", "identity", path, &o->external_identity));
  if (o->external_crl_check != "leaf" && o->external_crl_check != "chain" &&
      o->external_crl_check != "disabled") {
    return InvalidArgument(path + ": external.crl_check must be leaf, chain or disabled");
  }
  if (o->external_identity != "san" && o->external_identity != "subject") {
    return InvalidArgument(path + ": external.identity must be san or subject");
  }
  if (o->external_cdp_refresh_seconds < 60 || o->external_cdp_refresh_seconds > 30 * 86400) {
    return InvalidArgument(path + ": external.cdp_refresh_seconds must be between 60 and 2592000");
  }
  if (o->external_server_cert.empty() != o->external_server_key.empty()) {
    return InvalidArgument(path + ": external.server_cert and external.server_key go together");
  }
  HOSTCA_RETURN_IF_ERROR(Get(root, "backup", "directory", path, &o->backup_directory));
  HOSTCA_RETURN_IF_ERROR(
      Get(root, "backup", "interval_seconds", path, &o->backup_interval_seconds));
  HOSTCA_RETURN_IF_ERROR(Get(root, "backup", "keep", path, &o->backup_keep));
  HOSTCA_RETURN_IF_ERROR(Get(root, "backup", "passphrase_file", path, &o->backup_passphrase_file));
  if (o->backup_interval_seconds < 1 || o->backup_keep < 1) {
    return InvalidArgument(path + ": backup.interval_seconds and backup.keep must be >= 1");
  }
  if (!o->backup_directory.empty() && o->backup_passphrase_file.empty()) {
    return InvalidArgument(path +
                           ": backup.directory is set but backup.passphrase_file is not: "
                           "scheduled backups are encrypted and need a passphrase");
  }
  if (o->tidy_retention_days < 0 || o->tidy_interval_seconds < 60) {
    return InvalidArgument(path +
                           ": tidy.retention_days must be >= 0, tidy.interval_seconds >= 60");
  }
  if (o->crl_validity_days < 1 || o->crl_validity_days > 365) {
    return InvalidArgument(path + ": crl.validity_days must be between 1 and 365");
  }
  if (o->crl_republish_seconds < 60 || o->crl_republish_seconds > 86400) {
    return InvalidArgument(path + ": crl.republish_seconds must be between 60 and 86400");
  }
  if (o->validity_days <= 0 || o->validity_days > 3650) {
    return InvalidArgument(path + ": issuance.validity_days must be between 1 and 3650");
  }
  if (o->min_rsa_bits < 2048) {
    return InvalidArgument(path + ": issuance.min_rsa_bits must be at least 2048");
  }
  if (o->mapped_mib < 16 || o->mapped_mib > 1048576) {
    return InvalidArgument(path + ": storage.mapped_mib must be between 16 and 1048576");
  }
  if (o->checkpoint_ms < 10 || o->checkpoint_ms > 600000) {
    return InvalidArgument(path + ": storage.checkpoint_ms must be between 10 and 600000");
  }
  if (o->writeback_ms < 0 || o->writeback_ms > 600000) {
    return InvalidArgument(path + ": storage.writeback_ms must be between 0 (off) and 600000");
  }
  if (o->max_batch < 1 || o->threads < 0) {
    return InvalidArgument(path + ": storage.max_batch must be >= 1 and server.threads >= 0");
  }
  if (o->max_idle_connections < 0 || o->http_threads < 0) {
    return InvalidArgument(path +
                           ": server.max_idle_connections and server.http_threads must be >= 0");
  }
  return Status::Ok();
}

storage::LmdbOptions StoreOptions(const ServerOptions& options) {
  storage::LmdbOptions lmdb;
  lmdb.path = options.data_dir + "/db";
  lmdb.initial_map_size = options.initial_map_mib << 20;
  lmdb.max_map_size = options.max_map_gib << 30;
  lmdb.max_batch = static_cast<size_t>(options.max_batch);
  lmdb.durable = options.durable;
  lmdb.redo_log = options.redo_log;
  lmdb.checkpoint_ms = static_cast<uint32_t>(options.checkpoint_ms);
  lmdb.writeback_ms = static_cast<uint32_t>(options.writeback_ms);
  // A store larger than the mapped-pages budget: the neighbours the kernel
  // maps around each random B-tree page only fill the budget sooner (and
  // each release drops the branch pages every lookup needs). A store that
  // fits keeps them: they save faults (armed from the start, an empty
  // store issued 0.86 times as fast). Measured (issue 5) with the default
  // 128 MiB: at 10M certificates one page per fault issued 3485 and 2591
  // certs/s against fault-around's 2898 and 2029 (bench/results/scale-
  // 2026-12-04-single-page-faults-ab-10m, -long). Until 2026-12-06 the
  // threshold was 4 budgets: between one and four, the budget filled in a
  // fraction of a second and every release made the writer fault its
  // pages in again, so a store of about 80k to 330k certificates issued
  // slower than one of 10M. On one of 160k to 280k, runs alternating: 2242,
  // 2111 and 2146 certs/s armed from one budget against 1658, 1401 and
  // 1539 (0.50 against 0.80 ms of CPU, 57 against 241 us of the writer
  // per write, medians; bench/results/scale-2026-12-06-single-page-
  // faults-1x-ab-100k).
  lmdb.single_page_faults_from = options.mapped_mib << 20;
  return lmdb;
}

Status SplitHostPort(const std::string& addr, std::string* host, int* port) {
  const auto colon = addr.rfind(':');
  if (colon == std::string::npos || colon + 1 >= addr.size()) {
    return InvalidArgument("address '" + addr + "' is not HOST:PORT");
  }
  std::string h = addr.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') {
    h = h.substr(1, h.size() - 2);
  }
  int p = 0;
  for (char c : addr.substr(colon + 1)) {
    if (c < '0' || c > '9' || p > 65535) {
      return InvalidArgument("address '" + addr + "' has a bad port");
    }
    p = p * 10 + (c - '0');
  }
  if (h.empty() || p > 65535) {
    return InvalidArgument("address '" + addr + "' is not HOST:PORT");
  }
  *host = h;
  *port = p;
  return Status::Ok();
}

}  // namespace hostca::server
