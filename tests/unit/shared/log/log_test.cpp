#include "shared/log/log.hpp"

#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/ostream_sink.h>

#include "shared/log/secret.hpp"

namespace pdl::log {
namespace {

using ::testing::HasSubstr;

class log_lines : public ::testing::Test {
 protected:
  void SetUp() override { use_sink(std::make_shared<spdlog::sinks::ostream_sink_mt>(out_)); }
  void TearDown() override {
    init("info", format::text);
    use_sink(std::make_shared<spdlog::sinks::ostream_sink_mt>(std::cerr));
  }
  std::vector<std::string> lines() {
    std::vector<std::string> all;
    std::istringstream in(out_.str());
    for (std::string line; std::getline(in, line);) all.push_back(line);
    return all;
  }
  std::ostringstream out_;
};

TEST_F(log_lines, JsonLinesAreValidJsonWhateverTheMessageHolds) {
  init("debug", format::json);
  auto l = get("test.json");
  const std::string nasty = "quote \" backslash \\ newline \n tab \t bell \x07 utf8 \xc3\xa9 end";
  l->info("topic {}", nasty);
  l->debug("second {}", "line");
  const auto all = lines();
  ASSERT_EQ(all.size(), 2u) << out_.str();
  const auto j = nlohmann::json::parse(all[0]);
  EXPECT_EQ(j["msg"], "topic " + nasty);
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["logger"], "test.json");
  EXPECT_THAT(j["time"].get<std::string>(), ::testing::MatchesRegex("[0-9]{4}-.*T.*"));
  EXPECT_EQ(nlohmann::json::parse(all[1])["level"], "debug");
}

TEST_F(log_lines, TextLinesCannotBeForgedByANewlineInAValue) {
  init("info", format::text);
  get("test.text")->warn("path {}", "/x\n2026-01-01 error [server.auth] forged");
  const auto all = lines();
  ASSERT_EQ(all.size(), 1u) << out_.str();
  EXPECT_THAT(all[0], HasSubstr("warning [test.text] path /x\\n2026-01-01 error"));
}

TEST_F(log_lines, LevelFiltersAndSecretsAreRedacted) {
  init("warn", format::text);
  auto l = get("test.level");
  l->info("hidden");
  l->warn("token {}", secret("eyJhbGciOi.secret.value"));
  const auto text = out_.str();
  EXPECT_EQ(text.find("hidden"), std::string::npos);
  EXPECT_THAT(text, HasSubstr("token <redacted>"));
  EXPECT_EQ(text.find("secret.value"), std::string::npos);
  EXPECT_THROW(init("loud"), std::invalid_argument);
}

}  // namespace
}  // namespace pdl::log
