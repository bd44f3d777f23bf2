// ExternalVerifier (external_verifier.h). Verification is OpenSSL's
// X509_verify_cert in two passes: the first, without CRLs, builds the chain
// to the bundle (and is all ChainsToBundle does); the second repeats it with
// the CRLs gathered for the certificates that pass 1 showed must be checked.
#include "crl/external_verifier.h"

#include <algorithm>
#include <map>
#include <optional>

#include "common/encoding.h"
#include "common/file.h"
#include "common/pem.h"
#include "crl/internal/external_crls.h"
#include "crl/internal/external_parse.h"

namespace hostca::crl {
namespace {

using internal::NameToString;
using internal::X509CrlStackPtr;

// What the verify callback saw first (X509_STORE_CTX clears its current
// CRL before X509_verify_cert returns).
struct VerifyState {
  bool skip_anchor_crl = false;  // CRL errors at the trust anchor's depth are ignored
  int error = X509_V_OK;
  int depth = -1;
  X509Ptr cert;    // the certificate the error is about
  X509CrlPtr crl;  // the CRL in use when it happened, if any
};

bool IsCrlError(int error) {
  switch (error) {
    case X509_V_ERR_UNABLE_TO_GET_CRL:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
    case X509_V_ERR_CRL_SIGNATURE_FAILURE:
    case X509_V_ERR_CRL_NOT_YET_VALID:
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
    case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
    case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
    case X509_V_ERR_KEYUSAGE_NO_CRL_SIGN:
    case X509_V_ERR_DIFFERENT_CRL_SCOPE:
    case X509_V_ERR_UNHANDLED_CRITICAL_CRL_EXTENSION:
    case X509_V_ERR_CRL_PATH_VALIDATION_ERROR:
      return true;
    default:
      return false;
  }
}

int VerifyCallback(int ok, X509_STORE_CTX* ctx) {
  auto* state = static_cast<VerifyState*>(X509_STORE_CTX_get_app_data(ctx));
  if (ok == 1 || state == nullptr) {
    return ok;
  }
  const int error = X509_STORE_CTX_get_error(ctx);
  const int depth = X509_STORE_CTX_get_error_depth(ctx);
  if (state->skip_anchor_crl && (IsCrlError(error) || error == X509_V_ERR_CERT_REVOKED)) {
    // CRL_CHECK_ALL checks the self-signed trust anchor against a CRL it
    // issued itself; the anchor is trusted by configuration instead.
    STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx);
    const int top = chain == nullptr ? -1 : sk_X509_num(chain) - 1;
    if (depth == top && X509_self_signed(sk_X509_value(chain, top), 0) == 1) {
      X509_STORE_CTX_set_error(ctx, X509_V_OK);
      return 1;
    }
  }
  if (state->error == X509_V_OK) {
    state->error = error;
    state->depth = depth;
    state->cert = CopyRef(X509_STORE_CTX_get_current_cert(ctx));
    state->crl = internal::CopyCrlRef(X509_STORE_CTX_get0_current_crl(ctx));
  }
  return 0;
}

std::string Subject(X509* cert) {
  return cert == nullptr ? std::string("?") : "'" + NameToString(X509_get_subject_name(cert)) + "'";
}

std::string TimeOf(const ASN1_TIME* t) {
  int64_t s = 0;
  return internal::AsnTimeToUnix(t, &s) ? FormatRfc3339(s) : std::string("an unreadable date");
}

// X509Ptr copies of the client's chain and the bundle's intermediates.
X509StackPtr UntrustedStack(STACK_OF(X509) * chain, const std::vector<X509Ptr>& intermediates) {
  X509StackPtr out(sk_X509_new_null());
  for (int i = 0; chain != nullptr && i < sk_X509_num(chain); ++i) {
    sk_X509_push(out.get(), CopyRef(sk_X509_value(chain, i)).release());
  }
  for (const X509Ptr& cert : intermediates) {
    sk_X509_push(out.get(), CopyRef(cert.get()).release());
  }
  return out;
}

}  // namespace

Result<ExternalCrlCheck> ParseExternalCrlCheck(std::string_view name) {
  if (name == "leaf") {
    return ExternalCrlCheck::kLeaf;
  }
  if (name == "chain") {
    return ExternalCrlCheck::kChain;
  }
  if (name == "disabled") {
    return ExternalCrlCheck::kDisabled;
  }
  return InvalidArgument(
      "crl_check must be leaf, chain or disabled, not '" + std::string(name.substr(0, 40)) + "'",
      "bad_crl_check");
}

std::string ExternalCrlCheckName(ExternalCrlCheck check) {
  switch (check) {
    case ExternalCrlCheck::kLeaf:
      return "leaf";
    case ExternalCrlCheck::kChain:
      return "chain";
    case ExternalCrlCheck::kDisabled:
      return "disabled";
  }
  return "leaf";
}

struct ExternalVerifier::Impl {
  ExternalTrustOptions options;
  const Clock& clock;
  std::unique_ptr<CrlFetcher> fetcher;
  X509StorePtr store;                                 // the bundle's self-signed roots
  std::vector<X509Ptr> bundle;                        // every bundle certificate, in order
  std::vector<X509Ptr> intermediates;                 // the others: untrusted path helpers
  std::unique_ptr<internal::CrlDirectory> directory;  // null without crl_dir
  std::unique_ptr<internal::CdpCache> cdp;            // null without cdp_download

  struct Outcome {
    bool ok = false;
    VerifyState state;
    X509StackPtr chain;  // on success: leaf first, trust anchor last
  };
  // A CRL set and where each CRL came from.
  struct CrlSet {
    X509CrlStackPtr stack{sk_X509_CRL_new_null()};
    std::map<const X509_CRL*, std::string> sources;
    void Add(X509CrlPtr crl, const std::string& source) {
      sources.emplace(crl.get(), source);
      sk_X509_CRL_push(stack.get(), crl.release());
    }
  };

  Outcome Run(X509* leaf, STACK_OF(X509) * chain, int64_t now, unsigned long flags,
              STACK_OF(X509_CRL) * crls) const;
  Status Gather(X509* cert, X509* issuer, const internal::CrlDirectory::Snapshot* dir, int64_t now,
                CrlSet* out) const;
  Status ErrorFor(X509* leaf, const VerifyState& state, const CrlSet* crls) const;
};

ExternalVerifier::Impl::Outcome ExternalVerifier::Impl::Run(X509* leaf, STACK_OF(X509) * chain,
                                                            int64_t now, unsigned long flags,
                                                            STACK_OF(X509_CRL) * crls) const {
  Outcome out;
  out.state.skip_anchor_crl = (flags & X509_V_FLAG_CRL_CHECK) != 0;
  X509StackPtr untrusted = UntrustedStack(chain, intermediates);
  ClearOpenSslErrors();
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), leaf, untrusted.get()) != 1) {
    out.state.error = X509_V_ERR_OUT_OF_MEM;
    ClearOpenSslErrors();
    return out;
  }
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_CLIENT);
  X509_STORE_CTX_set_time(ctx.get(), 0, static_cast<time_t>(now));
  if (flags != 0) {
    X509_STORE_CTX_set_flags(ctx.get(), flags);
    X509_STORE_CTX_set0_crls(ctx.get(), crls);  // borrowed: the caller frees it
  }
  X509_STORE_CTX_set_app_data(ctx.get(), &out.state);
  X509_STORE_CTX_set_verify_cb(ctx.get(), VerifyCallback);
  out.ok = X509_verify_cert(ctx.get()) == 1;
  if (out.ok) {
    out.chain.reset(X509_STORE_CTX_get1_chain(ctx.get()));
  } else if (out.state.error == X509_V_OK) {
    out.state.error = X509_STORE_CTX_get_error(ctx.get());
    out.state.depth = X509_STORE_CTX_get_error_depth(ctx.get());
    if (out.state.error == X509_V_OK) {
      out.state.error = X509_V_ERR_UNSPECIFIED;  // failed without saying why
    }
  }
  ClearOpenSslErrors();
  return out;
}

// Adds to `out` the CRLs that can check `cert` (issued by `issuer`): those
// of the directory, else one from the certificate's distribution points.
Status ExternalVerifier::Impl::Gather(X509* cert, X509* issuer,
                                      const internal::CrlDirectory::Snapshot* dir, int64_t now,
                                      CrlSet* out) const {
  std::vector<std::string> notes;
  bool found = false;
  if (dir != nullptr) {
    if (!dir->problem.empty()) {
      notes.push_back(dir->problem);
    }
    bool named = false;
    for (const internal::SourcedCrl& s : dir->crls) {
      const internal::CrlFit fit = internal::CheckCrl(s.crl.get(), issuer, now);
      if (fit == internal::CrlFit::kGood) {
        out->Add(internal::CopyCrlRef(s.crl.get()), s.source);
        found = true;
      } else if (fit != internal::CrlFit::kWrongIssuer) {
        named = true;
        notes.push_back("the CRL in " + s.source + " " + DescribeFit(fit, s.crl.get(), issuer));
      }
    }
    if (!named && !found && dir->problem.empty()) {
      notes.push_back("crl_dir '" + directory->dir() + "' holds no CRL from it");
    }
  }
  if (!found && cdp) {
    const std::vector<std::string> urls = internal::HttpCdpUrls(cert);
    if (urls.empty()) {
      notes.push_back(Subject(cert) + " names no http:// CRL distribution point");
    }
    for (const std::string& url : urls) {
      auto crl = cdp->Get(url, issuer, now);
      if (crl.ok()) {
        out->Add(std::move(*crl), url);
        found = true;
        break;
      }
      notes.push_back(crl.status().message());
    }
  }
  if (found) {
    return Status::Ok();
  }
  if (!dir && !cdp) {
    notes.push_back("no crl_dir is configured and cdp_download is off");
  }
  std::string message = "no usable CRL from " + Subject(issuer) + " to check " + Subject(cert);
  for (size_t i = 0; i < notes.size(); ++i) {
    message += (i == 0 ? ": " : "; ") + notes[i];
  }
  return Unavailable(message, internal::kReasonCrlUnavailable);
}

Status ExternalVerifier::Impl::ErrorFor(X509* leaf, const VerifyState& state,
                                        const CrlSet* crls) const {
  X509* cert = state.cert ? state.cert.get() : leaf;
  const std::string what = X509_verify_cert_error_string(state.error);
  const std::string which =
      state.depth > 0 ? "CA certificate " + Subject(cert) + " in the chain of " + Subject(leaf)
                      : "certificate " + Subject(leaf);
  std::string source;
  if (state.crl && crls != nullptr) {
    const auto it = crls->sources.find(state.crl.get());
    source = it == crls->sources.end() ? "" : " (CRL from " + it->second + ")";
  }
  switch (state.error) {
    case X509_V_ERR_CERT_REVOKED: {
      X509_REVOKED* entry = nullptr;
      std::string when;
      if (state.crl && X509_CRL_get0_by_cert(state.crl.get(), &entry, cert) == 1 && entry) {
        when = " since " + TimeOf(X509_REVOKED_get0_revocationDate(entry));
      }
      const std::string message = which + " is revoked by '" +
                                  NameToString(X509_get_issuer_name(cert)) + "'" + when + source;
      return PermissionDenied(message,
                              state.depth > 0 ? "external_chain_revoked" : "external_revoked");
    }
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return PermissionDenied(which + " expired at " + TimeOf(X509_get0_notAfter(cert)),
                              "external_expired");
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return PermissionDenied(which + " is not valid before " + TimeOf(X509_get0_notBefore(cert)),
                              "external_not_yet_valid");
    default:
      break;
  }
  if (IsCrlError(state.error)) {
    return Unavailable("the CRL check of " + which + " failed: " + what + source,
                       internal::kReasonCrlUnavailable);
  }
  std::string hint;
  switch (state.error) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
      hint = " (its issuer '" + NameToString(X509_get_issuer_name(cert)) +
             "' is neither in the external trust bundle nor sent by the client)";
      break;
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      hint = " (that root is not in the external trust bundle)";
      break;
    default:
      break;
  }
  return Unauthenticated(which + " is not trusted: " + what + hint, "external_untrusted");
}

Result<std::unique_ptr<ExternalVerifier>> ExternalVerifier::Create(
    const ExternalTrustOptions& options, const Clock& clock, std::unique_ptr<CrlFetcher> fetcher) {
  auto certs = CertsFromPemBundle(options.trust_bundle_pem);
  if (!certs.ok()) {
    return InvalidArgument("external trust bundle: " + certs.status().message(),
                           "bad_trust_bundle");
  }
  auto impl = std::make_unique<Impl>(Impl{options,
                                          clock,
                                          std::move(fetcher),
                                          X509StorePtr(X509_STORE_new()),
                                          {},
                                          {},
                                          nullptr,
                                          nullptr});
  if (!impl->store) {
    return OpenSslError("cannot create an X509_STORE");
  }
  for (X509Ptr& cert : *certs) {
    if (X509_self_signed(cert.get(), 1) == 1) {
      if (X509_STORE_add_cert(impl->store.get(), cert.get()) != 1) {
        return OpenSslError("cannot add " + Subject(cert.get()) + " to the trust store");
      }
    } else {
      impl->intermediates.push_back(CopyRef(cert.get()));
    }
    impl->bundle.push_back(std::move(cert));
  }
  ClearOpenSslErrors();
  if (impl->intermediates.size() == impl->bundle.size()) {
    return InvalidArgument("external trust bundle: no self-signed root certificate",
                           "bad_trust_bundle");
  }
  if (!options.crl_dir.empty()) {
    impl->directory = std::make_unique<internal::CrlDirectory>(options.crl_dir);
  }
  if (options.cdp_download) {
    if (!impl->fetcher) {
      impl->fetcher = NewHttpCrlFetcher();
    }
    if (!options.cache_dir.empty()) {
      HOSTCA_RETURN_IF_ERROR(MakeDirs(options.cache_dir, 0700).WithContext("CRL cache_dir"));
    }
    impl->cdp = std::make_unique<internal::CdpCache>(*impl->fetcher, options.cache_dir,
                                                     options.cdp_refresh_seconds);
  }
  return std::unique_ptr<ExternalVerifier>(new ExternalVerifier(std::move(impl)));
}

ExternalVerifier::ExternalVerifier(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ExternalVerifier::~ExternalVerifier() = default;

Result<ExternalCertInfo> ExternalVerifier::Verify(X509* leaf, STACK_OF(X509) * chain) const {
  if (leaf == nullptr) {
    return Unauthenticated("no client certificate", "external_untrusted");
  }
  const int64_t now = impl_->clock.NowSeconds();
  Impl::Outcome built = impl_->Run(leaf, chain, now, 0, nullptr);
  if (!built.ok) {
    return impl_->ErrorFor(leaf, built.state, nullptr);
  }
  const ExternalCrlCheck check = impl_->options.crl_check;
  if (check != ExternalCrlCheck::kDisabled) {
    // Depths to check: the leaf, or every certificate below the anchor.
    const int n = sk_X509_num(built.chain.get());
    const int last = check == ExternalCrlCheck::kLeaf ? std::min(0, n - 2) : n - 2;
    std::optional<internal::CrlDirectory::Snapshot> dir;
    if (impl_->directory && last >= 0) {
      dir = impl_->directory->Take();
    }
    Impl::CrlSet crls;
    for (int depth = 0; depth <= last; ++depth) {
      HOSTCA_RETURN_IF_ERROR(impl_->Gather(sk_X509_value(built.chain.get(), depth),
                                           sk_X509_value(built.chain.get(), depth + 1),
                                           dir ? &*dir : nullptr, now, &crls));
    }
    const unsigned long flags =
        X509_V_FLAG_CRL_CHECK |
        (check == ExternalCrlCheck::kChain ? X509_V_FLAG_CRL_CHECK_ALL : 0ul);
    Impl::Outcome checked = impl_->Run(leaf, chain, now, flags, crls.stack.get());
    if (!checked.ok) {
      return impl_->ErrorFor(leaf, checked.state, &crls);
    }
  }
  auto info = internal::CertInfoOf(leaf);
  if (!info.ok()) {
    return Unauthenticated(info.status().message(), "external_untrusted");
  }
  return info;
}

bool ExternalVerifier::ChainsToBundle(X509* leaf, STACK_OF(X509) * chain) const {
  return leaf != nullptr && impl_->Run(leaf, chain, impl_->clock.NowSeconds(), 0, nullptr).ok;
}

std::vector<X509_NAME*> ExternalVerifier::BundleSubjectNames() const {
  std::vector<X509_NAME*> names;
  for (const X509Ptr& cert : impl_->bundle) {
    names.push_back(X509_NAME_dup(X509_get_subject_name(cert.get())));
  }
  return names;
}

ExternalVerifier::Stats ExternalVerifier::GetStats() const {
  Stats stats;
  if (impl_->cdp) {
    stats.crl_downloads = impl_->cdp->downloads();
    stats.crl_download_failures = impl_->cdp->failures();
    stats.crl_cache_hits = impl_->cdp->hits();
  }
  return stats;
}

}  // namespace hostca::crl
