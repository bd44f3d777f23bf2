// crl/: the hand-assembled CRL must be exactly what OpenSSL, GnuTLS and
// Botan read as a valid CRL v2 from this CA.
#include <botan/pubkey.h>
#include <botan/x509_crl.h>
#include <botan/x509cert.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <thread>
#include <tuple>
#include <vector>

#include "ca/authority.h"
#include "ca/issuer.h"
#include "ca/keys.h"
#include "common/clock.h"
#include "common/der.h"
#include "common/encoding.h"
#include "common/pem.h"
#include "crl/crl_builder.h"
#include "crl/publisher.h"
#include "storage/storage.h"
#include "tests/testutil.h"

namespace hostca::crl {
namespace {

using hostca::testing::Run;
using hostca::testing::ShellQuote;
using hostca::testing::TempDir;

struct TestCa {
  explicit TestCa(ca::KeyType type) : clock(std::time(nullptr)) {
    EvpPkeyPtr key = std::move(*ca::GenerateKey(type));
    X509Ptr root = std::move(*ca::CreateRootCertificate(key.get(), ca::CaOptions{}, clock));
    issuer = std::move(*ca::Issuer::Create(std::move(key), std::move(root), {}, "hostca"));
  }
  FakeClock clock;
  std::unique_ptr<ca::Issuer> issuer;
};

TEST_CASE("a signed CRL v2 that OpenSSL and certtool and Botan accept") {
  for (ca::KeyType type :
       {ca::KeyType::kP256, ca::KeyType::kP384, ca::KeyType::kEd25519, ca::KeyType::kRsa3072}) {
    INFO("key type " << ca::KeyTypeName(type));
    TestCa ca(type);
    auto signer = CrlSigner::Create(*ca.issuer);
    REQUIRE(signer.ok());
    CrlEntrySet entries;
    const int64_t now = ca.clock.NowSeconds();
    entries.Put({std::string("\x01\x02\x03", 3), now - 10, 1, now + 1000});  // keyCompromise
    entries.Put({std::string("\x7f\xff", 2), now - 5, 4, now + 1000});       // superseded
    entries.Put({std::string("\x80\x01", 2), now - 5, 0, now + 1000});       // top bit: needs 00
    entries.Put({std::string("\x05", 1), now - 5, 1, now - 1});              // expired cert
    REQUIRE(entries.DropExpired(now) == 1);
    auto der = (*signer)->Sign(entries, 42, now, now + 7 * 86400);
    REQUIRE(der.ok());
    auto crl = CrlFromPemOrDer(*der);
    REQUIRE(crl.ok());
    REQUIRE(X509_CRL_verify(crl->get(), ca.issuer->key()) == 1);
    REQUIRE(X509_CRL_get_version(crl->get()) == 1);
    REQUIRE(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl->get())) == 3);
    std::unique_ptr<ASN1_INTEGER, OsslDeleter<ASN1_INTEGER_free>> number(static_cast<ASN1_INTEGER*>(
        X509_CRL_get_ext_d2i(crl->get(), NID_crl_number, nullptr, nullptr)));
    REQUIRE(ASN1_INTEGER_get(number.get()) == 42);
    // The re-encoding by OpenSSL is byte-identical: our DER is canonical.
    REQUIRE(*CrlToDer(crl->get()) == *der);

    TempDir dir;
    std::ofstream(dir.Sub("crl.der"), std::ios::binary) << *der;
    std::ofstream(dir.Sub("ca.pem")) << ca.issuer->chain_pem()[0];
    std::ofstream(dir.Sub("crl.pem")) << DerToPem(*der, "X509 CRL");
    const auto text = Run("openssl crl -inform DER -in " + ShellQuote(dir.Sub("crl.der")) +
                          " -noout -text -CAfile " + ShellQuote(dir.Sub("ca.pem")));
    INFO(text.output);
    REQUIRE(text.exit_code == 0);
    REQUIRE_THAT(text.output, Catch::Contains("verify OK") &&
                                  Catch::Contains("X509v3 CRL Number") && Catch::Contains("42") &&
                                  Catch::Contains("Key Compromise") &&
                                  Catch::Contains("Superseded") &&
                                  Catch::Contains("X509v3 Authority Key Identifier") &&
                                  Catch::Contains("Serial Number: 8001"));
    const auto gnutls = Run("certtool --verify-crl --infile " + ShellQuote(dir.Sub("crl.pem")) +
                            " --load-ca-certificate " + ShellQuote(dir.Sub("ca.pem")));
    INFO(gnutls.output);
    REQUIRE(gnutls.exit_code == 0);
    REQUIRE_THAT(gnutls.output, Catch::Contains("Verified"));
    Botan::X509_CRL botan_crl(std::vector<uint8_t>(der->begin(), der->end()));
    REQUIRE(botan_crl.crl_number() == 42);
    REQUIRE(botan_crl.get_revoked().size() == 3);
    const std::string ca_der = *CertToDer(ca.issuer->ca_cert());
    Botan::X509_Certificate botan_ca(std::vector<uint8_t>(ca_der.begin(), ca_der.end()));
    std::unique_ptr<Botan::Public_Key> pub(botan_ca.subject_public_key());
    REQUIRE(botan_crl.check_signature(*pub));
  }
}

TEST_CASE("an empty CRL is valid too") {
  TestCa ca(ca::KeyType::kP256);
  auto signer = *CrlSigner::Create(*ca.issuer);
  CrlEntrySet none;
  auto der = signer->Sign(none, 1, ca.clock.NowSeconds(), ca.clock.NowSeconds() + 60);
  auto crl = CrlFromPemOrDer(*der);
  REQUIRE(crl.ok());
  REQUIRE(X509_CRL_verify(crl->get(), ca.issuer->key()) == 1);
  REQUIRE(X509_CRL_get_REVOKED(crl->get()) == nullptr);
}

// Sign writes the whole CRL in one buffer and sizes its outer header for the
// longest signature of the key (72 bytes for P-256): where the CRL's content
// sits just under 65536 bytes, a shorter signature (ECDSA's are 70 to 72
// bytes, at random) needs a header one byte shorter, which Sign cuts off.
TEST_CASE("a CRL whose length sits where the signature's length changes its header") {
  TestCa ca(ca::KeyType::kP256);
  auto signer = *CrlSigner::Create(*ca.issuer);
  const int64_t now = ca.clock.NowSeconds();
  auto with = [&](int n, size_t extra_serial_bytes) {
    CrlEntrySet entries;
    for (int i = 0; i < n; ++i) {
      std::string serial(16, '\x01');
      serial[14] = static_cast<char>(i >> 8);
      serial[15] = static_cast<char>(i & 0xff);
      entries.Put({serial, now - 5, 1, now + 1000});
    }
    entries.Put({std::string(extra_serial_bytes, '\x02'), now - 5, 1, now + 1000});
    auto der = signer->Sign(entries, 7, now, now + 60);
    REQUIRE(der.ok());
    return *der;
  };
  // The CRL's content and its signature's length.
  auto measure = [](const std::string& der) {
    std::string_view in = der;
    DerTlv crl, tbs, alg, sig;
    REQUIRE(ReadDer(&in, der::kSequence, &crl));
    REQUIRE(in.empty());
    std::string_view body = crl.content;
    REQUIRE(ReadDer(&body, der::kSequence, &tbs));
    REQUIRE(ReadDer(&body, der::kSequence, &alg));
    REQUIRE(ReadDer(&body, der::kBitString, &sig));
    return std::make_pair(crl.content.size(), sig.content.size() - 1);
  };
  // Entries of 49 bytes, then one whose serial's length moves the CRL a
  // byte at a time: calibrated so that with a 72-byte signature the content
  // would run from 65530 to 65541 bytes.
  constexpr size_t kBoundary = 65536;
  int n = 1330;  // about 65400 bytes
  auto [content, sig_len] = measure(with(n, 1));
  REQUIRE(content + (72 - sig_len) <= kBoundary - 6);
  n += static_cast<int>((kBoundary - 6 - (content + 72 - sig_len)) / 49);
  std::tie(content, sig_len) = measure(with(n, 1));
  const size_t at_max = content + (72 - sig_len);
  REQUIRE(at_max <= kBoundary - 6);
  const size_t first = 1 + (kBoundary - 6 - at_max);  // under 50
  REQUIRE(first < 60);
  bool shortened = false;
  for (int round = 0; round < 40 && !shortened; ++round) {
    for (size_t extra = first; extra < first + 12; ++extra) {
      const std::string der = with(n, extra);
      std::tie(content, sig_len) = measure(der);
      INFO("content " << content << " bytes, signature " << sig_len << " bytes");
      auto crl = CrlFromPemOrDer(der);
      REQUIRE(crl.ok());
      REQUIRE(X509_CRL_verify(crl->get(), ca.issuer->key()) == 1);
      REQUIRE(*CrlToDer(crl->get()) == der);  // canonical, header included
      REQUIRE(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl->get())) == n + 1);
      shortened |= content < kBoundary && content + (72 - sig_len) >= kBoundary;
    }
  }
  REQUIRE(shortened);  // the case was met (in about four rounds of five)
}

// The set is an arena of records with an open-addressing index of its own
// (crl_builder.h): puts, replacements, removals and expiry in a random
// order, with its compactions and rehashes, must keep exactly what a
// std::map keeps, and every CRL signed from it must list exactly that.
TEST_CASE("the entry set keeps what a map would through replacements, removals and expiry") {
  TestCa ca(ca::KeyType::kP256);
  auto signer = *CrlSigner::Create(*ca.issuer);
  int64_t now = ca.clock.NowSeconds();
  CrlEntrySet set;
  std::map<std::string, CrlEntry> model;
  uint64_t x = 0x9e3779b97f4a7c15ull;
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  // 4000 distinct serials of 3 to 22 bytes, no leading zero (so each is its own
  // INTEGER's magnitude), about half with the top bit set.
  std::vector<std::string> serials;
  for (int i = 0; i < 4000; ++i) {
    std::string serial(1 + next() % 20, '\0');
    for (char& c : serial) {
      c = static_cast<char>(next());
    }
    serial.back() = static_cast<char>(i);
    serial.insert(serial.size() - 1, std::string(1, static_cast<char>(i >> 8)));
    serial.insert(serial.begin(), static_cast<char>(1 + next() % 255));
    serials.push_back(serial);
  }
  size_t most_arena = 0;
  for (int round = 0; round < 24; ++round) {
    if (round % 3 == 0) {
      // A Load, as the publisher's start: serials given twice in it, or
      // already in the set, keep their last entry; an error from the
      // producer is returned, with what it added kept.
      const bool fail = round == 6;
      const Status loaded = set.Load([&](const CrlEntrySet::AddEntry& add) {
        for (int i = 0; i < 1500; ++i) {
          const CrlEntry e{serials[next() % serials.size()],
                           now - static_cast<int64_t>(next() % 1000), static_cast<int>(next() % 6),
                           now + static_cast<int64_t>(next() % 5000)};
          add(e);
          model[e.serial] = e;
        }
        return fail ? Unavailable("the store went away") : Status::Ok();
      });
      REQUIRE(loaded.ok() == !fail);
    }
    for (int op = 0; op < 3000; ++op) {
      const std::string& serial = serials[next() % serials.size()];
      // The first rounds mostly put; later ones mostly remove.
      if (next() % 24 < static_cast<uint64_t>(24 - round)) {
        const CrlEntry e{serial, now - static_cast<int64_t>(next() % 1000),
                         static_cast<int>(next() % 6), now + static_cast<int64_t>(next() % 5000)};
        set.Put(e);
        model[serial] = e;
      } else {
        set.Remove(serial);
        model.erase(serial);
      }
    }
    now += 300;
    size_t expired = 0;
    for (auto it = model.begin(); it != model.end();) {
      it = it->second.not_after < now ? (++expired, model.erase(it)) : std::next(it);
    }
    REQUIRE(set.DropExpired(now) == expired);
    most_arena = std::max(most_arena, set.arena_bytes());

    INFO("round " << round << ", " << model.size() << " entries");
    REQUIRE(set.size() == model.size());
    size_t bytes = 0;
    for (const auto& [serial, e] : model) {
      bytes += EncodeCrlEntry(e).size();
      REQUIRE(set.Contains(serial));
    }
    REQUIRE(set.encoded_bytes() == bytes);
    for (int i = 0; i < 200; ++i) {
      const std::string& serial = serials[next() % serials.size()];
      REQUIRE(set.Contains(serial) == (model.count(serial) != 0));
    }
    // Removed records take at most half the arena, and the index is at
    // most three quarters full, counting removed slots.
    REQUIRE(set.arena_bytes() <= 2 * (bytes + model.size() * 64) + 64);
    REQUIRE(4 * model.size() <= 3 * set.index_slots());

    auto der = signer->Sign(set, static_cast<uint64_t>(round + 1), now, now + 60);
    REQUIRE(der.ok());
    auto crl = CrlFromPemOrDer(*der);
    REQUIRE(crl.ok());
    REQUIRE(*CrlToDer(crl->get()) == *der);
    std::map<std::string, int> listed;
    const STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl->get());
    for (int i = 0; i < (revoked == nullptr ? 0 : sk_X509_REVOKED_num(revoked)); ++i) {
      const X509_REVOKED* r = sk_X509_REVOKED_value(revoked, i);
      const ASN1_INTEGER* serial = X509_REVOKED_get0_serialNumber(r);
      std::unique_ptr<ASN1_ENUMERATED, OsslDeleter<ASN1_ENUMERATED_free>> reason(
          static_cast<ASN1_ENUMERATED*>(
              X509_REVOKED_get_ext_d2i(r, NID_crl_reason, nullptr, nullptr)));
      listed[std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(serial)),
                         static_cast<size_t>(ASN1_STRING_length(serial)))] =
          reason == nullptr ? 0 : static_cast<int>(ASN1_ENUMERATED_get(reason.get()));
    }
    std::map<std::string, int> expected;
    for (const auto& [serial, e] : model) {
      expected[serial] = e.reason;
    }
    REQUIRE(listed == expected);
  }
  // The last rounds removed most entries: the arena was rewritten smaller.
  REQUIRE(set.arena_bytes() < most_arena / 2);
}

// A certificate revoked at `now` with `reason`, expiring 100 s later.
void StoreRevoked(storage::Storage& store, const std::string& serial, int reason, int64_t now) {
  storage::CertRecord r;
  r.serial = serial;
  r.host_id = "h";
  r.not_after = now + 100;
  r.status = storage::CertStatus::kRevoked;
  r.revocation_reason = reason;
  r.revoked_at = now;
  REQUIRE(store.Update([&](storage::WriteTxn& txn) { return txn.InsertCert(r); }).ok());
}

TEST_CASE("the publisher's CRL number rises by one per publish and survives a restart") {
  TestCa ca(ca::KeyType::kP256);
  TempDir dir;
  uint64_t last = 0;
  {
    auto store = *storage::OpenLmdbStorage({.path = dir.Sub("db")});
    StoreRevoked(*store, std::string("\x11\x22", 2), 1, ca.clock.NowSeconds());
    auto pub = Publisher::Create(*ca.issuer, *store, ca.clock, CrlOptions{});
    REQUIRE(pub.ok());
    REQUIRE((*pub)->Current()->number == 1);
    REQUIRE((*pub)->Current()->entries == 1);
    REQUIRE((*(*pub)->PublishNow())->number == 2);
    REQUIRE((*(*pub)->PublishNow())->number == 3);
    // The certificate expires: its entry leaves the next CRL.
    ca.clock.Advance(101);
    auto after = *(*pub)->PublishNow();
    REQUIRE(after->entries == 0);
    REQUIRE(after->next_update == after->this_update + 7 * 86400);
    last = after->number;
  }
  auto store = *storage::OpenLmdbStorage({.path = dir.Sub("db")});
  auto pub = Publisher::Create(*ca.issuer, *store, ca.clock, CrlOptions{});
  REQUIRE((*pub)->Current()->number == last + 1);
}

TEST_CASE("the published CRL's PEM is made once, on request, and decodes to its DER") {
  TestCa ca(ca::KeyType::kP256);
  TempDir dir;
  auto store = *storage::OpenLmdbStorage({.path = dir.Sub("db")});
  StoreRevoked(*store, std::string("\x7f\x01\x02", 3), 4, ca.clock.NowSeconds());
  auto pub = Publisher::Create(*ca.issuer, *store, ca.clock, CrlOptions{});
  REQUIRE(pub.ok());
  const auto crl = (*pub)->Current();
  // Readers on several threads at once all get the one kept copy.
  std::vector<const std::string*> seen(4, nullptr);
  std::vector<std::thread> readers;
  for (size_t i = 0; i < seen.size(); ++i) {
    readers.emplace_back([&, i] { seen[i] = &crl->pem(); });
  }
  for (auto& t : readers) {
    t.join();
  }
  for (const std::string* p : seen) {
    REQUIRE(p == &crl->pem());
  }
  REQUIRE(crl->pem() == DerToPem(crl->der, "X509 CRL"));
  auto parsed = CrlFromPemOrDer(crl->pem());
  REQUIRE(parsed.ok());
  REQUIRE(*CrlToDer(parsed->get()) == crl->der);
  // A later CRL has its own.
  const auto next = *(*pub)->PublishNow();
  REQUIRE(next->pem() != crl->pem());
  REQUIRE(*CrlToDer(CrlFromPemOrDer(next->pem())->get()) == next->der);
}

}  // namespace
}  // namespace hostca::crl
