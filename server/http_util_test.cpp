#include "server/http_util.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "server/api_util.h"

namespace hostca::server {
namespace {

std::string Dumped(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

TEST_CASE("AppendJsonString writes what nlohmann's dump writes, byte for byte") {
  std::vector<std::string> cases = {
      "",
      "plain",
      "-----BEGIN CERTIFICATE-----\nMIIB+zCCAaGgAwIBAgIQ\n-----END CERTIFICATE-----\n",
      "quote \" and backslash \\ and slash /",
      "\r\n\t\b\f",
      "caf\xc3\xa9",    // UTF-8
      "bad \xff byte",  // not UTF-8: replaced, as WriteJson does
      "\x7f",
  };
  std::string every_control;
  for (int c = 0; c < 0x20; ++c) {
    every_control.push_back(static_cast<char>(c));
  }
  cases.push_back(every_control);
  for (const std::string& s : cases) {
    std::string out = "prefix";
    AppendJsonString(&out, s);
    CHECK(out == "prefix" + Dumped(s));
  }
}

TEST_CASE("the issuance answer is the JSON object of DESIGN.md section 8") {
  enrollment::IssuedResponse r;
  r.host_id = "0b4e3a2c-8a7e-4d2b-9a51-1c2d3e4f5a6b";
  r.serial_hex = "7f0a";
  r.certificate_pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  r.not_after = 1'800'000'000;
  const std::vector<std::string> chain = {
      "-----BEGIN CERTIFICATE-----\nBBBB\n-----END "
      "CERTIFICATE-----\n"};
  const std::string text = IssuedAnswer(r, JsonStringArray(chain));
  const nlohmann::json expected = {{"host_id", r.host_id},
                                   {"serial", r.serial_hex},
                                   {"certificate", r.certificate_pem},
                                   {"chain", chain},
                                   {"not_after", "2027-01-15T08:00:00Z"}};
  CHECK(nlohmann::json::parse(text) == expected);
  // The same bytes a JSON tree would have been dumped as (keys in order).
  CHECK(text == expected.dump());
  CHECK(JsonStringArray({}) == "[]");
  CHECK(JsonStringArray({"a", "b"}) == R"(["a","b"])");
}

TEST_CASE("a kept body is sent whole, in ranges and to HEAD, slice after slice") {
  auto kept = std::make_shared<std::string>();
  for (int i = 0; kept->size() < 300000; ++i) {
    *kept += std::to_string(i) + ',';
  }
  httplib::Server srv;
  srv.Get("/kept", [&](const httplib::Request&, httplib::Response& res) {
    WriteKeptBody(res, kept, *kept, "application/octet-stream", 4096);
  });
  // Bound and listening on return: the client's connection waits in the
  // backlog until the thread accepts it.
  const int port = srv.bind_to_any_port("127.0.0.1");
  REQUIRE(port > 0);
  std::thread serving([&] { srv.listen_after_bind(); });
  httplib::Client cli("127.0.0.1", port);
  auto whole = cli.Get("/kept");
  REQUIRE(whole);
  CHECK(whole->status == 200);
  CHECK(whole->get_header_value("Content-Length") == std::to_string(kept->size()));
  CHECK(whole->body == *kept);
  auto part = cli.Get("/kept", {httplib::make_range_header({{5000, 204999}})});
  REQUIRE(part);
  CHECK(part->status == 206);
  CHECK(part->body == kept->substr(5000, 200000));
  auto head = cli.Head("/kept");
  REQUIRE(head);
  CHECK(head->status == 200);
  CHECK(head->get_header_value("Content-Length") == std::to_string(kept->size()));
  CHECK(head->body.empty());
  srv.stop();
  serving.join();
}

}  // namespace
}  // namespace hostca::server
