#include "cli/state.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "common/encoding.h"
#include "common/file.h"
#include "common/pem.h"

namespace hostca::cli {
namespace {

using nlohmann::json;

Result<int64_t> AsnTimeToUnix(const ASN1_TIME* t) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    return InvalidArgument("certificate has a bad validity time", "bad_certificate");
  }
  return static_cast<int64_t>(timegm(&tm));
}

Result<std::string> SerialHex(X509* cert) {
  BignumPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (!bn) {
    return OpenSslError("cannot read the certificate serial", Code::kInvalidArgument);
  }
  char* hex = BN_bn2hex(bn.get());
  if (hex == nullptr) {
    return OpenSslError("cannot format the certificate serial");
  }
  std::string out(hex);
  OPENSSL_free(hex);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  const auto first = out.find_first_not_of('0');
  return first == std::string::npos ? std::string("0") : out.substr(first);
}

void ReadSubjectAltNames(X509* cert, CertInfo* info) {
  GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) {
    return;
  }
  constexpr std::string_view kUrnUuid = "urn:uuid:";
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    if (gn->type != GEN_DNS && gn->type != GEN_URI) {
      continue;
    }
    const ASN1_IA5STRING* s = gn->type == GEN_DNS ? gn->d.dNSName : gn->d.uniformResourceIdentifier;
    const std::string value(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                            static_cast<size_t>(ASN1_STRING_length(s)));
    if (gn->type == GEN_DNS) {
      info->dns_names.push_back(value);
    } else if (value.rfind(kUrnUuid, 0) == 0) {
      info->host_id = value.substr(kUrnUuid.size());
    }
  }
}

Status FsyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return Unavailable("cannot open directory " + dir + ": " + std::strerror(errno));
  }
  const int rc = ::fsync(fd);
  ::close(fd);
  return rc == 0 ? Status::Ok()
                 : Unavailable("cannot fsync directory " + dir + ": " + std::strerror(errno));
}

// Renames host.key.new over host.key and makes the rename durable.
Status InstallNewKey(const StatePaths& paths) {
  if (std::rename(paths.host_key_new().c_str(), paths.host_key().c_str()) != 0) {
    return Unavailable("cannot rename " + paths.host_key_new() + ": " + std::strerror(errno));
  }
  return FsyncDir(paths.dir());
}

// Finishes or discards a save that a crash interrupted (see state.h).
Status RecoverInterruptedSave(const StatePaths& paths) {
  if (!FileExists(paths.host_key_new())) {
    return Status::Ok();
  }
  auto key_pem = ReadFile(paths.host_key_new());
  auto cert_pem = ReadFile(paths.host_crt());
  if (key_pem.ok() && cert_pem.ok()) {
    auto key = PrivateKeyFromPem(*key_pem);
    auto cert = CertFromPem(*cert_pem);
    if (key.ok() && cert.ok() && X509_check_private_key(cert->get(), key->get()) == 1) {
      return InstallNewKey(paths);  // the new certificate was saved: finish
    }
  }
  ClearOpenSslErrors();
  // The certificate for this key never arrived: the old pair is intact.
  if (std::remove(paths.host_key_new().c_str()) != 0) {
    return Unavailable("cannot remove " + paths.host_key_new() + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

Status VerifyIssued(X509* cert, const std::vector<X509Ptr>& chain, const std::string& ca_pem) {
  HOSTCA_ASSIGN_OR_RETURN(X509StorePtr store, TrustStoreFromPem(ca_pem));
  X509StackPtr untrusted(sk_X509_new_null());
  for (const X509Ptr& c : chain) {
    sk_X509_push(untrusted.get(), CopyRef(c.get()).release());
  }
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), cert, untrusted.get()) != 1) {
    return OpenSslError("cannot set up certificate verification");
  }
  // Validity is the server's business; a skewed local clock must not make a
  // fresh certificate look unusable.
  X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_NO_CHECK_TIME);
  if (X509_verify_cert(ctx.get()) != 1) {
    const int err = X509_STORE_CTX_get_error(ctx.get());
    ClearOpenSslErrors();
    return InvalidArgument(std::string("the issued certificate does not chain to the pinned CA: ") +
                               X509_verify_cert_error_string(err),
                           "bad_response");
  }
  return Status::Ok();
}

Result<std::vector<X509Ptr>> ParseChain(const std::vector<std::string>& pems) {
  std::vector<X509Ptr> out;
  for (const std::string& pem : pems) {
    HOSTCA_ASSIGN_OR_RETURN(X509Ptr c, CertFromPem(pem));
    out.push_back(std::move(c));
  }
  return out;
}

std::string JoinPem(const std::vector<std::string>& pems) {
  std::string out;
  for (const std::string& pem : pems) {
    out += pem;
    if (!pem.empty() && pem.back() != '\n') {
      out += "\n";
    }
  }
  return out;
}

}  // namespace

Result<CertInfo> InspectCertificate(X509* cert) {
  CertInfo info;
  HOSTCA_ASSIGN_OR_RETURN(info.serial_hex, SerialHex(cert));
  HOSTCA_ASSIGN_OR_RETURN(info.not_before, AsnTimeToUnix(X509_get0_notBefore(cert)));
  HOSTCA_ASSIGN_OR_RETURN(info.not_after, AsnTimeToUnix(X509_get0_notAfter(cert)));
  ReadSubjectAltNames(cert, &info);
  return info;
}

Result<IssuedCert> ParseIssued(const json& body) {
  const auto str = [&](const char* k) {
    return body.is_object() && body.contains(k) && body[k].is_string();
  };
  if (!str("host_id") || !str("serial") || !str("certificate") || !body.contains("chain") ||
      !body["chain"].is_array()) {
    return InvalidArgument("the server's answer lacks host_id, serial, certificate or chain",
                           "bad_response");
  }
  IssuedCert out{body["host_id"].get<std::string>(),
                 body["serial"].get<std::string>(),
                 body["certificate"].get<std::string>(),
                 {}};
  for (const json& c : body["chain"]) {
    if (!c.is_string()) {
      return InvalidArgument("chain[] must hold PEM strings", "bad_response");
    }
    out.chain_pem.push_back(c.get<std::string>());
  }
  return out;
}

Result<std::string> LoadPinnedCa(const StatePaths& paths) {
  auto pem = ReadFile(paths.ca_crt());
  if (!pem.ok()) {
    return NotFound(
        "no CA pinned in " + paths.dir() + ": run `hostca ca get --fingerprint SHA256` first",
        "ca_not_pinned");
  }
  if (auto certs = CertsFromPemBundle(*pem); !certs.ok()) {
    return certs.status().WithContext(paths.ca_crt());
  }
  return pem;
}

Result<HostState> LoadHostState(const StatePaths& paths) {
  HOSTCA_RETURN_IF_ERROR(RecoverInterruptedSave(paths));
  auto cert_pem = ReadFile(paths.host_crt());
  auto key_pem = ReadFile(paths.host_key());
  if (!cert_pem.ok() || !key_pem.ok()) {
    return NotFound("this host is not enrolled (no host.crt/host.key in " + paths.dir() +
                        "): run `hostca enroll` first",
                    "not_enrolled");
  }
  HostState st;
  HOSTCA_ASSIGN_OR_RETURN(st.cert, CertFromPem(*cert_pem));
  HOSTCA_ASSIGN_OR_RETURN(st.key, PrivateKeyFromPem(*key_pem));
  HOSTCA_ASSIGN_OR_RETURN(st.info, InspectCertificate(st.cert.get()));
  if (auto chain = ReadFile(paths.chain_pem()); chain.ok()) {
    HOSTCA_ASSIGN_OR_RETURN(st.chain, CertsFromPemBundle(*chain));
  }
  if (auto meta = ReadFile(paths.host_json()); meta.ok()) {
    const json j = json::parse(*meta, nullptr, false);
    if (j.is_object() && j.contains("hostname") && j["hostname"].is_string()) {
      st.hostname = j["hostname"].get<std::string>();
    }
  }
  if (st.hostname.empty() && !st.info.dns_names.empty()) {
    st.hostname = st.info.dns_names.front();
  }
  return st;
}

Status SaveIssued(const StatePaths& paths, const std::string& ca_pem, const std::string& hostname,
                  EVP_PKEY* key, const IssuedCert& issued) {
  auto cert = CertFromPem(issued.certificate_pem);
  if (!cert.ok()) {
    return InvalidArgument("the server sent a certificate that does not parse", "bad_response");
  }
  if (X509_check_private_key(cert->get(), key) != 1) {
    ClearOpenSslErrors();
    return InvalidArgument("the issued certificate is not for our key", "bad_response");
  }
  HOSTCA_ASSIGN_OR_RETURN(std::vector<X509Ptr> chain, ParseChain(issued.chain_pem));
  HOSTCA_RETURN_IF_ERROR(VerifyIssued(cert->get(), chain, ca_pem));
  HOSTCA_ASSIGN_OR_RETURN(CertInfo info, InspectCertificate(cert->get()));
  HOSTCA_ASSIGN_OR_RETURN(std::string key_pem, PrivateKeyToPem(key));
  const json meta = {{"host_id", issued.host_id},
                     {"serial", issued.serial},
                     {"hostname", hostname},
                     {"not_before", FormatRfc3339(info.not_before)},
                     {"not_after", FormatRfc3339(info.not_after)}};
  HOSTCA_RETURN_IF_ERROR(MakeDirs(paths.dir(), 0700));
  HOSTCA_RETURN_IF_ERROR(WriteFileAtomic(paths.host_key_new(), key_pem, 0600));
  HOSTCA_RETURN_IF_ERROR(WriteFileAtomic(paths.host_crt(), issued.certificate_pem, 0644));
  HOSTCA_RETURN_IF_ERROR(WriteFileAtomic(paths.chain_pem(), JoinPem(issued.chain_pem), 0644));
  HOSTCA_RETURN_IF_ERROR(WriteFileAtomic(paths.host_json(), meta.dump(2) + "\n", 0644));
  return InstallNewKey(paths);
}

}  // namespace hostca::cli
