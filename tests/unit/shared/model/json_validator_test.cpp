#include "shared/model/json_validator.hpp"

#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace pdl::model {
namespace {

const std::vector<std::string> valid_docs = {
    "0",
    "-0",
    "-0.0e+10",
    "1E5",
    "123456789012345678901234567890",
    "  12  ",
    "3.25",
    "true",
    "false",
    "null",
    R"("")",
    R"("\u00e9\n\t\"\\\/\b\f\r")",
    R"("\uD83D\uDE00")",
    "\"caf\xc3\xa9\"",
    "[]",
    "{}",
    " [ ] ",
    "[1e5,2.5E-3,-1,0.0]",
    R"( {"a":[1,{"b":null}],"c":true,"d":{"":""}} )",
    "[[[[[]]]]]",
    "[\n\t{\"x\" : \"y\" ,\r\n \"z\": [true,false,null]}\n]\n",
};

const std::vector<std::string> invalid_docs = {
    "",
    "   ",
    "01",
    "-",
    "-a",
    "1.",
    "1.e5",
    ".5",
    "+1",
    "1e",
    "1e+",
    "tru",
    "nul",
    "truex",
    "nulL",
    "1 2",
    "{}}",
    "{} x",
    "[1,]",
    "[,1]",
    "[1 2]",
    R"({"a":1,})",
    R"({"a" 1})",
    R"({1:2})",
    R"({"a":})",
    R"({"a"})",
    "[1}",
    "{\"a\":1]",
    R"("\x")",
    R"("\u12G4")",
    R"("\u12")",
    "\"a\nb\"",
    "\"a\x01\"",
    "\"unterminated",
    "[1,2",
    "{",
    "'single'",
    "NaN",
    "Infinity",
    "[-]",
};

// Feeds @p doc in pieces cut by @p cuts (sorted offsets).
bool run_chunked(const std::string& doc, const std::vector<std::size_t>& cuts,
                 json_validator& v) {
  std::size_t from = 0;
  for (const auto cut : cuts) {
    if (!v.feed(std::string_view(doc).substr(from, cut - from))) {
      return false;
    }
    from = cut;
  }
  return v.feed(std::string_view(doc).substr(from)) && v.finish();
}

std::vector<std::vector<std::size_t>> chunkings(const std::string& doc, std::mt19937& rng) {
  std::vector<std::vector<std::size_t>> out;
  out.push_back({});  // whole
  std::vector<std::size_t> bytewise;
  for (std::size_t i = 1; i < doc.size(); ++i) {
    bytewise.push_back(i);
  }
  out.push_back(bytewise);
  for (int k = 0; k < 20 && doc.size() > 1; ++k) {
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i < doc.size(); ++i) {
      if (rng() % 3 == 0) {
        cuts.push_back(i);
      }
    }
    out.push_back(cuts);
  }
  return out;
}

TEST(json_validator, accepts_valid_documents_in_any_chunking) {
  std::mt19937 rng(42);
  for (const auto& doc : valid_docs) {
    for (const auto& cuts : chunkings(doc, rng)) {
      json_validator v;
      EXPECT_TRUE(run_chunked(doc, cuts, v)) << doc << " -> " << v.error();
      EXPECT_TRUE(v.error().empty());
      EXPECT_EQ(v.bytes_seen(), doc.size());
    }
  }
}

TEST(json_validator, refuses_invalid_documents_in_any_chunking) {
  std::mt19937 rng(7);
  for (const auto& doc : invalid_docs) {
    std::string first_error;
    for (const auto& cuts : chunkings(doc, rng)) {
      json_validator v;
      EXPECT_FALSE(run_chunked(doc, cuts, v)) << "accepted: " << doc;
      EXPECT_NE(v.error().find(" at byte "), std::string::npos) << v.error();
      // The verdict and its position do not depend on where the chunks were cut.
      if (first_error.empty()) {
        first_error = v.error();
      } else {
        EXPECT_EQ(v.error(), first_error) << doc;
      }
    }
  }
}

TEST(json_validator, error_names_the_offending_byte) {
  EXPECT_EQ(validate_json("[1,]"), "unexpected ']' where a value was expected at byte 3");
  EXPECT_EQ(validate_json("{} x"), "unexpected 'x' after the JSON value at byte 3");
  EXPECT_EQ(validate_json("[1"), "unexpected end of input at byte 2");
  EXPECT_EQ(validate_json(""), "empty input (expected a JSON value) at byte 0");
  EXPECT_NE(validate_json("\"a\nb\"").find("control character byte 0x0A"), std::string::npos);
}

TEST(json_validator, keeps_failing_after_an_error) {
  json_validator v;
  EXPECT_FALSE(v.feed("[1,,"));
  const auto error = v.error();
  EXPECT_FALSE(v.feed("2]"));
  EXPECT_FALSE(v.finish());
  EXPECT_EQ(v.error(), error);
}

TEST(json_validator, reports_the_root_type_on_its_first_byte) {
  struct sample {
    std::string first;
    json_type type;
  };
  const std::vector<sample> samples = {
      {"  {", json_type::object}, {"[", json_type::array},   {"\"", json_type::string},
      {"-", json_type::number},   {"7", json_type::number},  {"t", json_type::boolean},
      {"f", json_type::boolean},  {"n", json_type::null},
  };
  for (const auto& s : samples) {
    json_validator v;
    EXPECT_FALSE(v.root_type().has_value());
    ASSERT_TRUE(v.feed(s.first));
    EXPECT_EQ(v.root_type(), s.type) << s.first;
  }
  std::optional<json_type> root;
  EXPECT_EQ(validate_json("[{}]", &root), "");
  EXPECT_EQ(root, json_type::array);
}

TEST(json_validator, enforces_the_depth_limit) {
  json_validator ok(3);
  EXPECT_TRUE(ok.feed("[[{\"a\":1}]]") && ok.finish()) << ok.error();
  json_validator deep(3);
  EXPECT_FALSE(deep.feed("[[[[1]]]]"));
  EXPECT_EQ(deep.error(), "nesting deeper than 3 levels at byte 3");
  // A very deep document costs O(depth) memory only and is refused, not crashed on.
  json_validator big;
  EXPECT_FALSE(big.feed(std::string(100000, '[')));
}

TEST(json_validator, feed_after_finish_is_an_error) {
  json_validator v;
  ASSERT_TRUE(v.feed("1"));
  ASSERT_TRUE(v.finish());
  EXPECT_FALSE(v.feed(" "));
}

// RFC 8259 allows numbers of any size; nlohmann refuses those that overflow a double.
bool reference_accepts(const std::string& doc) {
  try {
    const auto parsed = nlohmann::json::parse(doc);
    (void)parsed;
    return true;
  } catch (const nlohmann::json::out_of_range&) {
    return true;
  } catch (const nlohmann::json::parse_error&) {
    return false;
  }
}

// Mutations of valid documents, judged by nlohmann's strict parser as the reference. The seed
// documents hold only ASCII and no \u escapes, so UTF-8 and surrogate checks (which we do not
// make) never decide a verdict.
TEST(json_validator, agrees_with_a_reference_parser_on_mutated_documents) {
  const std::vector<std::string> seeds = {
      R"({"id":null,"entries":[{"url":"https://x/y","topics":["a","b/c"],"data":[1,-2.5e3,true]}],"n":0})",
      R"([{"op":"add","path":"/a","value":{"k":[null,false,"s\"\\"]}},{"op":"remove","path":""}])",
      R"( [ 0 , -0.1 , 10E-2 , "x" , { } , [ ] ] )",
  };
  const std::string alphabet = "{}[],:\"\\ 0123456789-+.eEtrufalsn\tx/";
  std::mt19937 rng(1234);
  int disagreements = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string doc = seeds[rng() % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !doc.empty(); ++e) {
      const std::size_t pos = rng() % doc.size();
      switch (rng() % 3) {
        case 0: doc.erase(pos, 1); break;
        case 1: doc.insert(pos, 1, alphabet[rng() % alphabet.size()]); break;
        default: doc[pos] = alphabet[rng() % alphabet.size()]; break;
      }
    }
    const bool expected = reference_accepts(doc);
    json_validator v;
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i < doc.size(); ++i) {
      if (rng() % 4 == 0) {
        cuts.push_back(i);
      }
    }
    const bool got = run_chunked(doc, cuts, v);
    if (got != expected) {
      ++disagreements;
      ADD_FAILURE() << "doc: " << doc << " reference=" << expected << " ours=" << got << " "
                    << v.error();
      if (disagreements > 5) {
        break;
      }
    }
  }
}

std::string generate_large_document(std::size_t target_bytes) {
  std::string doc = "{\"items\":[";
  std::size_t i = 0;
  while (doc.size() < target_bytes) {
    if (i != 0) {
      doc += ',';
    }
    doc += "{\"id\":" + std::to_string(i) + ",\"name\":\"user-" + std::to_string(i) +
           " with \\\"quotes\\\" and \\u00e9\",\"score\":-" + std::to_string(i % 1000) +
           ".25e-3,\"tags\":[\"a\",\"b\",\"c\"],\"active\":" + (i % 2 ? "true" : "false") +
           ",\"parent\":null,\"nested\":{\"x\":[1,2,3,{\"y\":\"" + std::string(40, 'z') +
           "\"}]}}";
    ++i;
  }
  doc += "]}";
  return doc;
}

TEST(json_validator, validates_a_20_mb_document_in_chunks) {
  const std::string doc = generate_large_document(20 * 1024 * 1024);
  ASSERT_GE(doc.size(), 20u * 1024 * 1024);
  json_validator v;
  constexpr std::size_t chunk = 64 * 1024 + 7;  // odd size: cuts land mid-token
  for (std::size_t from = 0; from < doc.size(); from += chunk) {
    ASSERT_TRUE(v.feed(std::string_view(doc).substr(from, chunk))) << v.error();
  }
  EXPECT_TRUE(v.finish()) << v.error();
  EXPECT_EQ(v.bytes_seen(), doc.size());
  EXPECT_EQ(v.root_type(), json_type::object);

  std::string broken = doc;
  broken.insert(broken.size() - 2, ",");  // "...}},]}": a trailing comma at the very end
  EXPECT_EQ(validate_json(broken), "unexpected ']' where a value was expected at byte " +
                                       std::to_string(broken.size() - 2));
}

}  // namespace
}  // namespace pdl::model
