#include "server/blobs/blob_urls.hpp"

#include <gtest/gtest.h>

#include "shared/auth/keys.hpp"

namespace pdl::server::blobs {
namespace {

using namespace std::chrono_literals;

const std::string sha(64, 'a');
const std::string other_sha(64, 'b');
const std::chrono::system_clock::time_point t0{std::chrono::seconds(1'800'000'000)};

std::string query_of(const std::string& url) { return url.substr(url.find('?') + 1); }

TEST(blob_urls, a_signed_url_is_valid_for_its_blob_until_it_expires) {
  blob_urls u(std::string(64, 'k'), 600s);
  const std::string url = u.signed_url("https://pdl.example", sha, t0);
  EXPECT_EQ(url.rfind("https://pdl.example/data/blobs/" + sha + "?expires=1800000600&sig=", 0), 0u)
      << url;
  const std::string q = query_of(url);
  EXPECT_TRUE(u.valid(sha, q, t0));
  EXPECT_TRUE(u.valid(sha, q, t0 + 600s));
  EXPECT_FALSE(u.valid(sha, q, t0 + 601s)) << "expired";
  EXPECT_FALSE(u.valid(other_sha, q, t0)) << "another blob";
  EXPECT_EQ(u.signed_url("", sha, t0).rfind("/data/blobs/", 0), 0u) << "a path without a base";
}

TEST(blob_urls, tampered_or_malformed_queries_are_refused) {
  blob_urls u(std::string(64, 'k'), 600s);
  const std::string q = query_of(u.signed_url("", sha, t0));
  const std::string sig = q.substr(q.find("sig=") + 4);
  EXPECT_FALSE(u.valid(sha, "expires=1800000900&sig=" + sig, t0)) << "a later expiry";
  EXPECT_FALSE(u.valid(sha, "expires=1800000600&sig=" + std::string(64, '0'), t0));
  EXPECT_FALSE(u.valid(sha, "expires=1800000600", t0));
  EXPECT_FALSE(u.valid(sha, "sig=" + sig, t0));
  EXPECT_FALSE(u.valid(sha, "expires=18e8&sig=" + sig, t0));
  EXPECT_FALSE(u.valid(sha, "expires=-1&sig=" + sig, t0));
  EXPECT_FALSE(u.valid(sha, "", t0));
  // Parameters in another order are the same parameters.
  EXPECT_TRUE(u.valid(sha, "sig=" + sig + "&expires=1800000600", t0));
  // Another key (another server's) signs differently.
  blob_urls v(std::string(64, 'j'), 600s);
  EXPECT_FALSE(v.valid(sha, q, t0));
  EXPECT_THROW(blob_urls(std::string(16, 'k'), 600s), std::invalid_argument);
}

TEST(blob_urls, the_key_derived_from_one_rsa_key_is_the_same_each_time) {
  const auto key = auth::rsa_key::generate(2048);
  const std::string a = derive_url_key(key.sign_rs256(url_key_label));
  const std::string b = derive_url_key(key.sign_rs256(url_key_label));
  EXPECT_EQ(a, b) << "every replica holding the key derives the same secret";
  EXPECT_EQ(a.size(), 64u);
  const auto other = auth::rsa_key::generate(2048);
  EXPECT_NE(derive_url_key(other.sign_rs256(url_key_label)), a);
}

}  // namespace
}  // namespace pdl::server::blobs
