#include "agent/base_config.hpp"

#include <gtest/gtest.h>

#include "tests/unit/agent/mini_http_server.hpp"

namespace pdl::agent {
namespace {

using test::mini_http_server;

constexpr const char* config_body =
    R"({"entries":[{"url":"","config":null,"topics":["users"],"dst_path":"/static","save_method":"PUT","data":{"seed":{"bootstrapped":true}},"periodic_update_interval":null}]})";

TEST(base_config, sends_the_token_and_parses_entries) {
  mini_http_server server([](const test::seen_request&) {
    return mini_http_server::reply(http::status::ok, config_body);
  });
  base_config_request req;
  req.url = server.url("/data/config");
  req.token = secret("tok");
  const auto entries = load_base_config(req);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].dst_path, "/static");
  EXPECT_EQ(server.requests().at(0).header("authorization"), "Bearer tok");
}

mini_http_server::response redirect(http::status status, const std::string& location) {
  auto res = mini_http_server::reply(status, "", "");
  res.set(http::field::location, location);
  return res;
}

std::string error_of(const base_config_request& req) {
  try {
    load_base_config(req);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "no error";
}

TEST(base_config, external_source_gets_the_token_in_the_authorization_header) {
  mini_http_server external([](const test::seen_request&) {
    return mini_http_server::reply(http::status::ok, config_body);
  });
  // 127.0.0.1 vs localhost: another origin for the agent, the same machine for the test.
  const std::string location =
      "http://localhost:" + std::to_string(external.port()) + "/config?tenant=a";
  mini_http_server server([&](const test::seen_request&) {
    return redirect(http::status::temporary_redirect, location);
  });
  base_config_request req;
  req.url = server.url("/data/config");
  req.token = secret("tok");
  const auto entries = load_base_config(req);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].dst_path, "/static");
  EXPECT_EQ(server.requests().at(0).header("authorization"), "Bearer tok");
  const auto ext = external.requests().at(0);
  EXPECT_EQ(ext.header("authorization"), "Bearer tok");
  EXPECT_EQ(ext.target, "/config?tenant=a");  // the URL as configured: no token added to it
}

TEST(base_config, every_redirect_status_is_followed_once) {
  mini_http_server external([](const test::seen_request&) {
    return mini_http_server::reply(http::status::ok, config_body);
  });
  for (auto status : {http::status::moved_permanently, http::status::found,
                      http::status::see_other, http::status::permanent_redirect}) {
    mini_http_server server(
        [&](const test::seen_request&) { return redirect(status, external.url("/config")); });
    base_config_request req;
    req.url = server.url("/data/config");
    EXPECT_EQ(load_base_config(req).size(), 1u) << static_cast<int>(status);
  }
  EXPECT_EQ(external.requests().size(), 4u);
}

TEST(base_config, a_second_redirect_is_refused_and_names_the_external_source) {
  mini_http_server external([](const test::seen_request&) {
    return redirect(http::status::found, "http://127.0.0.1:1/elsewhere");
  });
  mini_http_server server([&](const test::seen_request&) {
    return redirect(http::status::temporary_redirect, external.url("/config?sig=q-secret"));
  });
  base_config_request req;
  req.url = server.url("/data/config");
  const auto msg = error_of(req);
  EXPECT_NE(msg.find("external source " + external.url("/config")), std::string::npos) << msg;
  EXPECT_NE(msg.find("HTTP 302"), std::string::npos) << msg;
  EXPECT_NE(msg.find("only one redirect"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("q-secret"), std::string::npos) << msg;
}

TEST(base_config, only_absolute_http_locations_are_followed) {
  for (const std::string location : {"/config", "config", "ftp://h/config", "http:///x", "//h/x"}) {
    mini_http_server server([&](const test::seen_request&) {
      return redirect(http::status::temporary_redirect, location);
    });
    base_config_request req;
    req.url = server.url("/data/config");
    const auto msg = error_of(req);
    EXPECT_NE(msg.find("not an absolute http(s) URL"), std::string::npos)
        << location << ": " << msg;
    EXPECT_EQ(server.requests().size(), 1u);
  }
}

TEST(base_config, redirect_without_or_with_an_oversized_location_is_an_error) {
  mini_http_server bare([](const test::seen_request&) {
    return mini_http_server::reply(http::status::temporary_redirect, "", "");
  });
  base_config_request req;
  req.url = bare.url("/data/config");
  auto msg = error_of(req);
  EXPECT_NE(msg.find("HTTP 307 without a Location"), std::string::npos) << msg;

  const std::string huge = "http://h/" + std::string(max_location_bytes, 'a');
  mini_http_server big(
      [&](const test::seen_request&) { return redirect(http::status::temporary_redirect, huge); });
  req.url = big.url("/data/config");
  msg = error_of(req);
  EXPECT_NE(msg.find("Location longer than"), std::string::npos) << msg;
}

TEST(base_config, external_source_errors_name_it_without_its_query) {
  mini_http_server refusing([](const test::seen_request&) {
    return mini_http_server::reply(http::status::unauthorized, R"({"error":"unauthorized"})");
  });
  mini_http_server invalid([](const test::seen_request&) {
    return mini_http_server::reply(http::status::ok, R"({"entries":[{"dst_path":"/x"}]})");
  });
  for (auto* ext : {&refusing, &invalid}) {
    mini_http_server server([&](const test::seen_request&) {
      return redirect(http::status::temporary_redirect, ext->url("/cfg?token=q-secret"));
    });
    base_config_request req;
    req.url = server.url("/data/config");
    req.token = secret("tok-secret");
    const auto msg = error_of(req);
    EXPECT_NE(msg.find("external source " + ext->url("/cfg")), std::string::npos) << msg;
    EXPECT_EQ(msg.find("q-secret"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("tok-secret"), std::string::npos) << msg;
    if (ext == &refusing) {
      EXPECT_NE(msg.find("HTTP 401"), std::string::npos) << msg;
      EXPECT_NE(msg.find("Authorization: Bearer"), std::string::npos) << msg;
    } else {
      EXPECT_NE(msg.find("is invalid"), std::string::npos) << msg;
    }
  }
}

TEST(base_config, body_over_the_size_limit_is_refused) {
  mini_http_server server([](const test::seen_request&) {
    return mini_http_server::reply(http::status::ok, config_body);
  });
  base_config_request req;
  req.url = server.url("/data/config");
  req.max_bytes = 16;
  EXPECT_NE(error_of(req), "no error");
}

TEST(base_config, errors_name_the_status) {
  mini_http_server server([](const test::seen_request&) {
    return mini_http_server::reply(http::status::unauthorized, "{}");
  });
  base_config_request req;
  req.url = server.url("/data/config");
  try {
    load_base_config(req);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("401"), std::string::npos);
  }
}

TEST(base_config, origins_and_locations) {
  EXPECT_EQ(url_origin("http://A:80/x"), url_origin("http://a/y"));
  EXPECT_NE(url_origin("http://a:8080/"), url_origin("http://a/"));
  EXPECT_EQ(url_origin("HTTPS://U:pw@Opal:443/data"), "https://opal");
  EXPECT_EQ(url_origin("ftp://a/"), "");
}

}  // namespace
}  // namespace pdl::agent
