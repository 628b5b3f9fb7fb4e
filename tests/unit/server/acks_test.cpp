#include "server/delivery_tracker.hpp"

#include <gtest/gtest.h>

#include "tests/support/process.hpp"
#include "tests/unit/server/test_server.hpp"
#include "tests/unit/server/ws_client.hpp"

namespace pdl::server {
namespace {

using namespace testing;
using namespace std::chrono_literals;
using nlohmann::json;

TEST(delivery_tracker, tracks_delivery_and_outcomes_and_forgets_the_oldest) {
  delivery_tracker t(2);
  auto at = std::chrono::system_clock::time_point(std::chrono::seconds(1795860000));
  t.accepted("u1", 1, {"users"}, at);
  t.delivered(1, "a");
  t.delivered(1, "b");
  t.delivered(1, "a");  // twice (live and replay): listed once
  EXPECT_TRUE(t.acknowledged("u1", 1, "a", true, {}));
  EXPECT_TRUE(t.acknowledged("", 1, "b", false, {"/users: fetch failed: HTTP 401"}));
  json s = json::parse(*t.status_json("u1"));
  EXPECT_EQ(s["id"], "u1");
  EXPECT_EQ(s["seq"], 1);
  EXPECT_EQ(s["topics"], json::array({"users"}));
  EXPECT_EQ(s["accepted_at"], "2026-11-28T10:00:00Z");
  EXPECT_EQ(s["agents"]["subscribed"], json::array({"a", "b"}));
  EXPECT_EQ(s["agents"]["applied"], json::array({"a"}));
  EXPECT_EQ(s["agents"]["failed"],
            json::parse(R"([{"agent":"b","errors":["/users: fetch failed: HTTP 401"]}])"));
  EXPECT_EQ(s["agents"]["pending"], json::array());
  EXPECT_TRUE(s["complete"]);
  t.accepted("u2", 2, {"x"}, at);
  t.accepted("u3", 3, {"x"}, at);
  EXPECT_FALSE(t.status_json("u1").has_value());  // bounded: the oldest is gone
  EXPECT_FALSE(t.acknowledged("u1", 1, "a", true, {}));
  EXPECT_TRUE(t.status_json("u3").has_value());
  EXPECT_EQ(t.tracked(), 2u);
}

TEST(delivery_tracker, an_acknowledgement_longer_than_the_bounds_is_cut) {
  delivery_tracker t(10);
  t.accepted("u", 1, {"x"}, std::chrono::system_clock::now());
  std::vector<std::string> errors(50, std::string(5000, 'e'));
  t.acknowledged("u", 0, std::string(1000, 'a'), false, errors);
  json s = json::parse(*t.status_json("u"));
  auto failed = s["agents"]["failed"][0];
  EXPECT_EQ(failed["agent"].get<std::string>().size(), delivery_tracker::max_agent_id_bytes);
  EXPECT_EQ(failed["errors"].size(), delivery_tracker::max_errors);
  EXPECT_EQ(failed["errors"][0].get<std::string>().size(), delivery_tracker::max_error_bytes);
}

// Issue 9: peer text is cut on a character boundary and repaired, so the status always renders
// (a byte cut used to split a character, and dump() then threw on every GET of that update).
TEST(delivery_tracker, peer_text_is_cut_on_a_character_boundary_and_repaired) {
  delivery_tracker t(10);
  t.accepted("u", 1, {"x"}, std::chrono::system_clock::now());
  const std::string euro = "\xE2\x82\xAC";
  // The euro sign straddles max_error_bytes: the old cut kept two of its three bytes.
  std::string straddling(delivery_tracker::max_error_bytes - 2, 'e');
  straddling += euro + "tail";
  std::string agent(delivery_tracker::max_agent_id_bytes - 1, 'a');
  agent += "\xC3\xA9";  // é straddles max_agent_id_bytes
  t.acknowledged("u", 0, agent, false, {straddling, "bad \xFF byte, cut \xE2\x82"});
  std::string text = *t.status_json("u");
  json s = json::parse(text);  // throws on ill-formed UTF-8
  auto failed = s["agents"]["failed"][0];
  EXPECT_EQ(failed["agent"], std::string(delivery_tracker::max_agent_id_bytes - 1, 'a'));
  EXPECT_EQ(failed["errors"][0], std::string(delivery_tracker::max_error_bytes - 2, 'e'));
  EXPECT_EQ(failed["errors"][1], "bad \xEF\xBF\xBD byte, cut \xEF\xBF\xBD");
}

class acks : public server_suite {
 protected:
  json publish(const std::string& topic) {
    auto r = call(port(), "POST", "/data/config", *datasource_, good_update({topic}));
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json();
  }
  json status(const std::string& id, const std::string& token) {
    auto r = call(port(), "GET", "/data/updates/" + id, token);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json();
  }
  static std::string applied_args(const json& accepted, bool ok,
                                  std::vector<std::string> errors = {}) {
    return json{{"id", accepted["id"]}, {"seq", accepted["seq"]}, {"ok", ok}, {"errors", errors}}
        .dump();
  }

};

TEST_F(acks, status_lists_subscribed_applied_and_pending_agents) {
  ws_client ours(port(), *client_, ws_client::protocol1("agent-a"));
  ASSERT_TRUE(ours.subscribe({"acks"}));
  ws_client opal(port(), *client_, {});
  ASSERT_TRUE(opal.subscribe({"acks"}));
  std::string opal_id =
      json::parse(opal.expect_response(opal.call("_get_channel_id_", "{}")).result_json);
  json accepted = publish("acks");
  std::string id = accepted["id"];
  ASSERT_EQ(ours.read_notify()["id"], id);
  ASSERT_EQ(opal.read_notify()["id"], id);

  json before = status(id, *datasource_);
  EXPECT_EQ(before["seq"], accepted["seq"]);
  EXPECT_EQ(before["topics"], json::array({"acks"}));
  EXPECT_FALSE(before["complete"]);
  EXPECT_EQ(before["agents"]["applied"], json::array());

  auto call_id = ours.call("pdl_applied", applied_args(accepted, true));
  EXPECT_EQ(ours.expect_response(call_id).result_json, "true");
  // An OPAL client does not speak protocol 1: the method is unknown to its session.
  auto opal_call = opal.call("pdl_applied", applied_args(accepted, true));
  EXPECT_EQ(opal.expect_response(opal_call).result_type, "error");

  json after = status(id, *listener_);  // listener tokens may read it too
  EXPECT_EQ(after["agents"]["applied"], json::array({"agent-a"}));
  EXPECT_EQ(after["agents"]["pending"], json::array({opal_id}));
  EXPECT_FALSE(after["complete"]);
  auto subscribed = after["agents"]["subscribed"];
  EXPECT_EQ(subscribed.size(), 2u);
  EXPECT_NE(std::find(subscribed.begin(), subscribed.end(), "agent-a"), subscribed.end());
  EXPECT_TRUE(after["accepted_at"].get<std::string>().back() == 'Z');
}

TEST_F(acks, complete_once_every_agent_answered_and_failures_carry_their_errors) {
  ws_client a(port(), *client_, ws_client::protocol1("agent-ok"));
  ASSERT_TRUE(a.subscribe({"acks2"}));
  ws_client b(port(), *client_, ws_client::protocol1("agent-bad"));
  ASSERT_TRUE(b.subscribe({"acks2"}));
  json accepted = publish("acks2");
  a.read_notify();
  b.read_notify();
  EXPECT_EQ(a.expect_response(a.call("pdl_applied", applied_args(accepted, true))).result_json,
            "true");
  EXPECT_FALSE(status(accepted["id"], *datasource_)["complete"]);
  auto r = b.call("pdl_applied", applied_args(accepted, false, {"/tests/x: OPA answered 400"}));
  EXPECT_EQ(b.expect_response(r).result_json, "true");
  json s = status(accepted["id"], *datasource_);
  EXPECT_TRUE(s["complete"]);
  EXPECT_EQ(s["agents"]["failed"],
            json::parse(R"([{"agent":"agent-bad","errors":["/tests/x: OPA answered 400"]}])"));
  // Malformed acknowledgements are refused.
  auto bad = b.call("pdl_applied", R"({"id": 5, "ok": true})");
  EXPECT_EQ(b.expect_response(bad).result_json, "false");
  bad = b.call("pdl_applied", R"({"id": "x", "ok": "yes"})");
  EXPECT_EQ(b.expect_response(bad).result_json, "false");
}

TEST_F(acks, a_callback_report_with_an_update_id_acknowledges_for_the_token_subject) {
  json accepted = publish("acks3");
  json report = {{"update_id", accepted["id"]},
                 {"reports",
                  {{{"entry", {{"dst_path", "/tests/x"}}}, {"fetched", true}, {"saved", false}}}}};
  std::string reporter = mint(port(), "client");
  auto r = call(port(), "POST", "/data/callback_report", reporter, report.dump());
  EXPECT_EQ(r.status, 200);
  json s = status(accepted["id"], *datasource_);
  ASSERT_EQ(s["agents"]["failed"].size(), 1u);
  EXPECT_EQ(s["agents"]["failed"][0]["errors"], json::array({"/tests/x: save failed"}));
}

TEST_F(acks, errors_with_multi_byte_characters_at_the_cut_still_render) {
  ws_client agent(port(), *client_, ws_client::protocol1("agent-utf8"));
  ASSERT_TRUE(agent.subscribe({"acks-utf8"}));
  json accepted = publish("acks-utf8");
  agent.read_notify();
  // Byte 1024 (max_error_bytes) falls inside a euro sign, byte 256 of the OPAL report's
  // dst_path inside an "e" with an accent: both used to be cut by bytes.
  std::string straddling = std::string(delivery_tracker::max_error_bytes - 1, 'x') +
                           "\xE2\x82\xAC and more";
  std::string path = "/" + std::string(254, 'p') + "\xC3\xA9/rest";
  auto r = agent.call("pdl_applied",
                      applied_args(accepted, false, {straddling, "\xF0\x9F\x98\x80"}));
  EXPECT_EQ(agent.expect_response(r).result_json, "true");
  json report = {{"update_id", accepted["id"]},
                 {"reports", {{{"entry", {{"dst_path", path}}}, {"fetched", false}}}}};
  EXPECT_EQ(call(port(), "POST", "/data/callback_report", *client_, report.dump()).status, 200);
  // Ill-formed UTF-8 never gets in: the JSON parsers refuse it (WebSocket text frames are
  // checked by Beast too).
  std::string invalid_report = R"({"update_id": ")" + accepted["id"].get<std::string>() +
                               "\", \"reports\": [{\"entry\": {\"dst_path\": \"/a\xFF\"}}]}";
  EXPECT_EQ(call(port(), "POST", "/data/callback_report", *client_, invalid_report).status, 422);

  for (int i = 0; i < 3; ++i) {  // the same answer every time, not only the first
    auto got = call(port(), "GET", "/data/updates/" + accepted["id"].get<std::string>(),
                    *datasource_);
    ASSERT_EQ(got.status, 200) << got.body;
    json s = got.json();
    bool seen_agent = false;
    for (const auto& f : s["agents"]["failed"]) {
      if (f["agent"] == "agent-utf8") {
        seen_agent = true;
        EXPECT_EQ(f["errors"][0],
                  std::string(delivery_tracker::max_error_bytes - 1, 'x'));
        EXPECT_EQ(f["errors"][1], "\xF0\x9F\x98\x80");
      } else {
        EXPECT_EQ(f["errors"][0], "/" + std::string(254, 'p') + ": fetch failed");
      }
    }
    EXPECT_TRUE(seen_agent) << got.body;
    EXPECT_EQ(s["agents"]["failed"].size(), 2u) << got.body;
  }
}

TEST_F(acks, unknown_ids_are_404_and_only_datasource_or_listener_tokens_may_ask) {
  auto r = call(port(), "GET", "/data/updates/0123456789abcdef", *datasource_);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.json(), json::parse(R"({"detail":"unknown update id"})"));
  json accepted = publish("acks4");
  std::string path = "/data/updates/" + accepted["id"].get<std::string>();
  EXPECT_EQ(call(port(), "GET", path, *client_).status, 403);
  EXPECT_EQ(call(port(), "GET", path).status, 401);
  EXPECT_EQ(call(port(), "GET", path, *datasource_).status, 200);
  EXPECT_EQ(call(port(), "POST", path, *datasource_, "{}").status, 405);
  EXPECT_EQ(call(port(), "GET", "/data/updates/", *datasource_).status, 404);
}

}  // namespace
}  // namespace pdl::server
