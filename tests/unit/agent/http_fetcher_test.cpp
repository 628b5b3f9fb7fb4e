#include "agent/http_fetcher.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include "shared/auth/sha256.hpp"
#include "shared/http/source_rules.hpp"
#include "tests/unit/agent/fakes.hpp"
#include "tests/unit/agent/mini_http_server.hpp"
#include "tests/unit/shared/http/gzip.hpp"

namespace pdl::agent {
namespace {

using test::mini_http_server;

model::data_source_entry entry_for(const std::string& url,
                                   std::optional<std::string> config = std::nullopt) {
  model::data_source_entry e;
  e.url = url;
  e.config_json = std::move(config);
  e.dst_path = "/users";
  return e;
}

http_fetcher_options small_options() {
  http_fetcher_options o;
  o.connect_timeout = std::chrono::milliseconds(2000);
  o.idle_timeout = std::chrono::milliseconds(5000);
  return o;
}

TEST(http_fetcher, sends_the_configured_headers_and_spools_the_body) {
  mini_http_server server([](const test::seen_request&) {
    return mini_http_server::reply(http::status::ok, R"({"alice":{"roles":["admin"]}})");
  });
  http_fetcher f(small_options());
  auto body = test::fetch_sync(f, entry_for(server.url("/users?x=1"),
                                R"({"headers":{"Authorization":"Bearer s3cr3t","X-Tenant":"t1"}})"));
  EXPECT_EQ(body.root, model::json_type::object);
  EXPECT_EQ(test::read_all(body.file.path()), R"({"alice":{"roles":["admin"]}})");
  EXPECT_EQ(body.size, std::string(R"({"alice":{"roles":["admin"]}})").size());
  const auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "GET");
  EXPECT_EQ(reqs[0].target, "/users?x=1");
  EXPECT_EQ(reqs[0].header("authorization"), "Bearer s3cr3t");
  EXPECT_EQ(reqs[0].header("x-tenant"), "t1");
}

TEST(http_fetcher, temp_file_is_removed_with_the_body) {
  mini_http_server server(
      [](const test::seen_request&) { return mini_http_server::reply(http::status::ok, "[1]"); });
  http_fetcher f(small_options());
  std::string path;
  {
    auto body = test::fetch_sync(f, entry_for(server.url()));
    path = body.file.path();
    EXPECT_EQ(body.root, model::json_type::array);
    EXPECT_EQ(::access(path.c_str(), F_OK), 0);
  }
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
}

TEST(http_fetcher, status_401_is_a_permanent_error_without_secrets) {
  mini_http_server server([](const test::seen_request&) {
    return mini_http_server::reply(http::status::unauthorized, R"({"detail":"token s3cr3t bad"})");
  });
  http_fetcher f(small_options());
  try {
    test::fetch_sync(f, entry_for(server.url("/users?token=s3cr3t"),
                      R"({"headers":{"Authorization":"Bearer s3cr3t"}})"));
    FAIL() << "no error";
  } catch (const fetch_error& e) {
    EXPECT_TRUE(e.permanent());
    EXPECT_EQ(e.http_status(), 401);
    const std::string what = e.what();
    EXPECT_NE(what.find("401"), std::string::npos);
    EXPECT_EQ(what.find("s3cr3t"), std::string::npos);
  }
}

TEST(http_fetcher, status_503_is_a_transient_error) {
  mini_http_server server([](const test::seen_request&) {
    return mini_http_server::reply(http::status::service_unavailable, "");
  });
  http_fetcher f(small_options());
  try {
    test::fetch_sync(f, entry_for(server.url()));
    FAIL() << "no error";
  } catch (const fetch_error& e) {
    EXPECT_FALSE(e.permanent());
    EXPECT_EQ(e.http_status(), 503);
  }
}

TEST(http_fetcher, invalid_json_names_the_byte_offset) {
  mini_http_server server([](const test::seen_request&) {
    return mini_http_server::reply(http::status::ok, R"({"a":1,,})");
  });
  http_fetcher f(small_options());
  try {
    test::fetch_sync(f, entry_for(server.url()));
    FAIL() << "no error";
  } catch (const fetch_error& e) {
    EXPECT_TRUE(e.permanent());
    EXPECT_NE(std::string(e.what()).find("byte"), std::string::npos) << e.what();
  }
}

TEST(http_fetcher, truncated_json_is_an_error) {
  mini_http_server server([](const test::seen_request&) {
    return mini_http_server::reply(http::status::ok, R"({"a":[1,2)");
  });
  http_fetcher f(small_options());
  EXPECT_THROW(test::fetch_sync(f, entry_for(server.url())), fetch_error);
}

TEST(http_fetcher, size_limit_is_enforced) {
  mini_http_server server([](const test::seen_request&) {
    return mini_http_server::reply(http::status::ok, "[" + std::string(5000, '1') + "]");
  });
  auto o = small_options();
  o.max_bytes = 1000;
  http_fetcher f(o);
  try {
    test::fetch_sync(f, entry_for(server.url()));
    FAIL() << "no error";
  } catch (const fetch_error& e) {
    EXPECT_NE(std::string(e.what()).find("1000"), std::string::npos) << e.what();
  }
}

TEST(http_fetcher, non_json_body_becomes_a_json_string) {
  mini_http_server server([](const test::seen_request&) {
    return mini_http_server::reply(http::status::ok, "he said \"hi\"\n\x01", "text/plain");
  });
  http_fetcher f(small_options());
  auto body = test::fetch_sync(f, entry_for(server.url(), R"({"is_json":false})"));
  EXPECT_EQ(body.root, model::json_type::string);
  EXPECT_EQ(test::read_all(body.file.path()), R"("he said \"hi\"\n\u0001")");
}

TEST(http_fetcher, method_and_body_from_the_config) {
  mini_http_server server([](const test::seen_request& r) {
    return mini_http_server::reply(http::status::ok, R"({"echo":)" + r.body + "}");
  });
  http_fetcher f(small_options());
  auto body = test::fetch_sync(f, entry_for(server.url(), R"({"method":"post","data":{"q":1}})"));
  const auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(test::read_all(body.file.path()), R"({"echo":{"q":1}})");
}

TEST(http_fetcher, bad_config_is_a_permanent_error) {
  http_fetcher f(small_options());
  try {
    test::fetch_sync(f, entry_for("http://127.0.0.1:1/", R"({"method":"fly"})"));
    FAIL() << "no error";
  } catch (const fetch_error& e) {
    EXPECT_TRUE(e.permanent());
    EXPECT_NE(std::string(e.what()).find("config.method"), std::string::npos);
  }
}

}  // namespace
}  // namespace pdl::agent

namespace pdl::agent {
namespace {

// Schemes are case-insensitive: the server accepts "HTTP://", so the agent fetches it too.
TEST(http_fetcher, an_upper_case_scheme_is_fetched) {
  mini_http_server server(
      [](const test::seen_request&) { return mini_http_server::reply(http::status::ok, "[1]"); });
  http_fetcher f(small_options());
  std::string url = server.url("/x");
  ASSERT_EQ(url.rfind("http://", 0), 0u);
  url.replace(0, 4, "HTTP");
  auto body = test::fetch_sync(f, entry_for(url));
  EXPECT_EQ(test::read_all(body.file.path()), "[1]");
  EXPECT_THROW(test::fetch_sync(f, entry_for("ftp://127.0.0.1/x")), fetch_error);
}

}  // namespace
}  // namespace pdl::agent

namespace pdl::agent {
namespace {

/** A source answering @p body gzip-compressed, as a compressing web server does. */
mini_http_server::response gzipped(const std::string& body) {
  auto res = mini_http_server::reply(http::status::ok, pdl::test::gzip(body));
  res.set(http::field::content_encoding, "gzip");
  res.prepare_payload();
  return res;
}

TEST(http_fetcher, a_compressed_source_is_decoded_and_the_decoded_bytes_validated) {
  std::string doc = R"({"users":[)";
  for (int i = 0; i < 2000; ++i) {
    doc += (i ? "," : "") + std::string(R"({"name":"user)") + std::to_string(i) + "\"}";
  }
  doc += "]}";
  mini_http_server server([&doc](const test::seen_request& r) {
    return r.target == "/bad" ? gzipped(R"({"users":[1,2,}])") : gzipped(doc);
  });
  http_fetcher f(small_options());
  auto body = test::fetch_sync(f, entry_for(server.url("/good")));
  EXPECT_EQ(body.root, model::json_type::object);
  EXPECT_EQ(body.size, doc.size());
  EXPECT_EQ(test::read_all(body.file.path()), doc);
  EXPECT_NE(server.requests().at(0).header("accept-encoding").find("gzip"), std::string::npos);

  try {
    test::fetch_sync(f, entry_for(server.url("/bad")));
    ADD_FAILURE() << "invalid JSON inside the gzip stream was accepted";
  } catch (const fetch_error& e) {
    EXPECT_TRUE(e.permanent());
    EXPECT_NE(std::string(e.what()).find("invalid JSON"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("at byte 14"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace pdl::agent

namespace pdl::agent {
namespace {

// Entries the server fetched once (docs/fetch-once.md): downloaded from the agent's server by
// hash, with the agent's token, checked against the announced size and SHA-256.

constexpr const char* agent_token = "agent-jwt-s3cr3t";

/** A blob entry as a notify carries it: the signed URL (pointing elsewhere on purpose: the
 *  agent must not use it) and no config; @p doc gives the announced hash and size. */
model::data_source_entry blob_entry(const std::string& doc) {
  model::data_source_entry e;
  e.url = "http://blob-url-not-to-use.invalid/data/blobs/x?expires=1&sig=abc";
  e.dst_path = "/billing";
  e.topics = {"billing"};
  e.fetched_by = model::fetched_by::server;
  e.blob = model::blob_ref{auth::sha256_hex(doc), doc.size()};
  return e;
}

http_fetcher_options blob_options(const mini_http_server& server,
                                  std::string token = agent_token) {
  auto o = small_options();
  o.blob_server = [base = server.url(""), token] { return blob_origin{base, secret(token)}; };
  return o;
}

/** A server serving @p body for every GET of /data/blobs/<sha>, 404 elsewhere. */
mini_http_server::handler serving(std::string body) {
  return [body](const test::seen_request& r) {
    if (r.target.rfind("/data/blobs/", 0) != 0) {
      return mini_http_server::reply(http::status::not_found, R"({"detail":"no"})");
    }
    return mini_http_server::reply(http::status::ok, body);
  };
}

const std::string billing_doc = R"({"invoices":[{"id":1,"total":12.5},{"id":2,"total":7}]})";

/** The fetch's exception, which must be a blob_mismatch_error; its message. */
std::string mismatch_message(http_fetcher& f, const model::data_source_entry& e) {
  try {
    test::fetch_sync(f, e);
  } catch (const blob_mismatch_error& err) {
    EXPECT_TRUE(err.permanent());
    EXPECT_EQ(err.http_status(), 0);
    return err.what();
  } catch (const std::exception& err) {
    ADD_FAILURE() << "not a blob_mismatch_error: " << err.what();
    return {};
  }
  ADD_FAILURE() << "no error";
  return {};
}

TEST(http_fetcher_blob, downloads_from_the_server_by_hash_with_the_agents_token) {
  mini_http_server server(serving(billing_doc));
  http_fetcher f(blob_options(server));
  auto e = blob_entry(billing_doc);
  e.config_json = R"({"headers":{"X-Source-Key":"source-only"},"method":"POST"})";
  auto body = test::fetch_sync(f, e);
  EXPECT_EQ(body.root, model::json_type::object);
  EXPECT_EQ(body.size, billing_doc.size());
  EXPECT_EQ(test::read_all(body.file.path()), billing_doc);
  const auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "GET");
  EXPECT_EQ(reqs[0].target, "/data/blobs/" + e.blob->sha256);
  EXPECT_EQ(reqs[0].header("authorization"), std::string("Bearer ") + agent_token);
  EXPECT_FALSE(reqs[0].has_header("x-source-key"));
  EXPECT_TRUE(reqs[0].body.empty());
}

TEST(http_fetcher_blob, no_token_sends_no_authorization_and_a_prefix_is_kept) {
  mini_http_server server([](const test::seen_request& r) {
    return r.target.rfind("/opal/data/blobs/", 0) == 0
               ? mini_http_server::reply(http::status::ok, "[1,2,3]")
               : mini_http_server::reply(http::status::not_found, "{}");
  });
  auto o = small_options();
  o.blob_server = [base = server.url("/opal")] { return blob_origin{base, secret()}; };
  http_fetcher f(o);
  auto body = test::fetch_sync(f, blob_entry("[1,2,3]"));
  EXPECT_EQ(body.root, model::json_type::array);
  const auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target, "/opal/data/blobs/" + auth::sha256_hex("[1,2,3]"));
  EXPECT_FALSE(reqs[0].has_header("authorization"));
}

TEST(http_fetcher_blob, other_bytes_of_the_same_size_are_a_mismatch) {
  std::string other = billing_doc;
  other.replace(other.find("12.5"), 4, "99.9");
  ASSERT_EQ(other.size(), billing_doc.size());
  mini_http_server server(serving(other));
  http_fetcher f(blob_options(server));
  const auto e = blob_entry(billing_doc);
  const std::string what = mismatch_message(f, e);
  EXPECT_NE(what.find("expected sha256 " + e.blob->sha256.substr(0, 12)), std::string::npos)
      << what;
  EXPECT_NE(what.find("received sha256 " + auth::sha256_hex(other).substr(0, 12)),
            std::string::npos)
      << what;
  EXPECT_NE(what.find("(" + std::to_string(billing_doc.size()) + " bytes), received"),
            std::string::npos)
      << what;
  EXPECT_EQ(what.find(agent_token), std::string::npos) << what;
}

TEST(http_fetcher_blob, other_bytes_that_are_not_json_are_a_mismatch_not_a_json_error) {
  std::string other = billing_doc;
  other.replace(other.find("12.5"), 4, "1,,5");
  ASSERT_EQ(other.size(), billing_doc.size());
  mini_http_server server(serving(other));
  http_fetcher f(blob_options(server));
  EXPECT_NE(mismatch_message(f, blob_entry(billing_doc)).find("received sha256"),
            std::string::npos);
}

TEST(http_fetcher_blob, fewer_bytes_are_a_mismatch) {
  const std::string shorter = R"({"invoices":[]})";
  mini_http_server server(serving(shorter));
  http_fetcher f(blob_options(server));
  const std::string what = mismatch_message(f, blob_entry(billing_doc));
  EXPECT_NE(what.find("(" + std::to_string(billing_doc.size()) + " bytes)"), std::string::npos)
      << what;
  EXPECT_NE(what.find("(" + std::to_string(shorter.size()) + " bytes)"), std::string::npos)
      << what;
}

TEST(http_fetcher_blob, more_bytes_are_a_mismatch_and_stop_the_transfer) {
  // Valid JSON, a prefix of the announced document plus more, and a large tail: the transfer
  // stops once the announced size is passed.
  const std::string longer = "[" + std::string(200000, '1') + "]";
  const std::string announced = longer.substr(0, 1000) + "]";
  mini_http_server server(serving(longer));
  http_fetcher f(blob_options(server));
  const std::string what = mismatch_message(f, blob_entry(announced));
  EXPECT_NE(what.find("expected " + std::to_string(announced.size()) + " bytes, received more"),
            std::string::npos)
      << what;
}

TEST(http_fetcher_blob, one_byte_more_is_a_mismatch) {
  mini_http_server server(serving(billing_doc + " "));
  http_fetcher f(blob_options(server));
  EXPECT_NE(mismatch_message(f, blob_entry(billing_doc)).find("received more"),
            std::string::npos);
}

TEST(http_fetcher_blob, the_blobs_own_bytes_are_still_validated_as_json) {
  const std::string not_json = R"({"a":1,,})";
  mini_http_server server(serving(not_json));
  http_fetcher f(blob_options(server));
  try {
    test::fetch_sync(f, blob_entry(not_json));
    FAIL() << "invalid JSON accepted";
  } catch (const blob_mismatch_error& e) {
    FAIL() << "the bytes were the blob's: " << e.what();
  } catch (const fetch_error& e) {
    EXPECT_TRUE(e.permanent());
    EXPECT_NE(std::string(e.what()).find("invalid JSON"), std::string::npos) << e.what();
  }
}

TEST(http_fetcher_blob, a_404_says_the_server_no_longer_has_the_blob) {
  mini_http_server server([](const test::seen_request&) {
    return mini_http_server::reply(http::status::not_found, R"({"detail":"gone"})");
  });
  http_fetcher f(blob_options(server));
  const auto e = blob_entry(billing_doc);
  try {
    test::fetch_sync(f, e);
    FAIL() << "no error";
  } catch (const blob_mismatch_error& err) {
    FAIL() << "a 404 is not a mismatch: " << err.what();
  } catch (const fetch_error& err) {
    EXPECT_TRUE(err.permanent());
    EXPECT_EQ(err.http_status(), 404);
    const std::string what = err.what();
    EXPECT_NE(what.find("no longer has blob " + e.blob->sha256.substr(0, 12)), std::string::npos)
        << what;
    EXPECT_EQ(what.find(agent_token), std::string::npos) << what;
  }
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(http_fetcher_blob, a_refused_token_fails_permanently_without_the_token) {
  mini_http_server server([](const test::seen_request&) {
    return mini_http_server::reply(http::status::forbidden, R"({"detail":"bad token"})");
  });
  http_fetcher f(blob_options(server));
  try {
    test::fetch_sync(f, blob_entry(billing_doc));
    FAIL() << "no error";
  } catch (const fetch_error& err) {
    EXPECT_TRUE(err.permanent());
    EXPECT_EQ(err.http_status(), 403);
    EXPECT_EQ(std::string(err.what()).find(agent_token), std::string::npos) << err.what();
  }
}

TEST(http_fetcher_blob, a_redirect_is_not_followed) {
  mini_http_server other(serving(billing_doc));
  mini_http_server server([&other](const test::seen_request& r) {
    auto res = mini_http_server::reply(http::status::found, "");
    res.set(http::field::location, other.url(r.target));
    return res;
  });
  http_fetcher f(blob_options(server));
  try {
    test::fetch_sync(f, blob_entry(billing_doc));
    FAIL() << "followed a redirect";
  } catch (const fetch_error& err) {
    EXPECT_EQ(err.http_status(), 302) << err.what();
  }
  EXPECT_EQ(server.requests().size(), 1u);
  EXPECT_TRUE(other.requests().empty());
}

TEST(http_fetcher_blob, source_rules_do_not_apply_to_the_agents_server) {
  mini_http_server server(serving(billing_doc));
  auto o = blob_options(server);
  auto rules = std::make_shared<http_client::source_rules>();
  std::string why;
  ASSERT_TRUE(rules->add_deny("127.0.0.0/8", "fetch.deny", why)) << why;
  o.rules = rules;
  http_fetcher f(o);
  // A source fetch at the same address is refused: the rules are in force...
  try {
    test::fetch_sync(f, entry_for(server.url("/data/blobs/" + auth::sha256_hex(billing_doc))));
    FAIL() << "the rules did not refuse the source";
  } catch (const fetch_error& err) {
    EXPECT_TRUE(err.refused()) << err.what();
  }
  EXPECT_TRUE(server.requests().empty());
  // ...and the blob still comes from the agent's server.
  auto body = test::fetch_sync(f, blob_entry(billing_doc));
  EXPECT_EQ(test::read_all(body.file.path()), billing_doc);
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(http_fetcher_blob, without_a_blob_origin_the_entry_fails_permanently) {
  mini_http_server server(serving(billing_doc));
  http_fetcher f(small_options());
  auto e = blob_entry(billing_doc);
  e.url = server.url("/data/blobs/" + e.blob->sha256);  // reachable, yet not used
  try {
    test::fetch_sync(f, e);
    FAIL() << "no error";
  } catch (const fetch_error& err) {
    EXPECT_TRUE(err.permanent());
    EXPECT_NE(std::string(err.what()).find("no server to download blobs from"),
              std::string::npos)
        << err.what();
  }
  EXPECT_TRUE(server.requests().empty());
}

TEST(http_fetcher_blob, a_blob_over_the_size_limit_is_refused_before_any_request) {
  mini_http_server server(serving(billing_doc));
  auto o = blob_options(server);
  o.max_bytes = 10;
  http_fetcher f(o);
  try {
    test::fetch_sync(f, blob_entry(billing_doc));
    FAIL() << "no error";
  } catch (const fetch_error& err) {
    EXPECT_TRUE(err.permanent());
    EXPECT_NE(std::string(err.what()).find("over the fetch size limit of 10 bytes"),
              std::string::npos)
        << err.what();
  }
  EXPECT_TRUE(server.requests().empty());
}

}  // namespace
}  // namespace pdl::agent
