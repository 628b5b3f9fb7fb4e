// Publishing a data update from your own C++ service, with pdl::publisher.
//
// This is the "billing" walkthrough: tell every agent subscribed to `users` or `billing` to fetch
// the user list from our billing service and put it at the root of their policy store. The
// agents fetch it themselves, with the Authorization header we give them here.
//
//   OPAL_SERVER_URL=http://localhost:7002 \
//   OPAL_CLIENT_TOKEN=$(opal-server obtain-token "$MASTER" --type datasource) \
//   BILLING_SOURCE_TOKEN=... \
//   ./example_publish_billing [SRC_URL]        # default SRC_URL: $BILLING_SOURCE_URL, or
//                                              # http://127.0.0.1:8090/users
//
// Against a pdl server it then waits (up to 30 s) until every subscribed agent applied the
// update, like `publish-data-update --wait`, and exits 1 naming the agents that did not.
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "shared/publisher/publisher.hpp"

namespace {

std::string env_or(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string src_url =
      argc > 1 ? argv[1] : env_or("BILLING_SOURCE_URL", "http://127.0.0.1:8090/users");

  // Who we talk to, and as whom: a JWT with peer_type "datasource".
  pdl::publisher::options opts;
  opts.server_url = env_or("OPAL_SERVER_URL", opts.server_url);
  opts.token = pdl::secret(env_or("OPAL_CLIENT_TOKEN", ""));

  // One entry: where the agents fetch from, how, which topics it is for, where it goes.
  pdl::model::data_source_entry entry;
  entry.url = src_url;
  entry.topics = {"users", "billing"};
  entry.dst_path = "";  // the root of the policy store: the source returns an object
  entry.method = pdl::model::save_method::put;
  // The fetcher config travels to every agent: the source's token goes in a header there,
  // never in the URL (URLs end up in logs).
  nlohmann::json fetcher_config = {
      {"headers", {{"authorization", "bearer " + env_or("BILLING_SOURCE_TOKEN", "")}}}};
  entry.config_json = fetcher_config.dump();

  pdl::model::data_update update;
  update.entries.push_back(entry);
  update.reason = "billing: users changed";

  try {
    // publish() validates exactly as the server does before sending anything.
    const auto result = pdl::publisher::client(opts).publish(update);
    std::cout << "published id=" << result.id;
    if (result.seq) {
      std::cout << " seq=" << *result.seq;  // our server numbers updates; OPAL's does not
    }
    std::cout << '\n';

    // OPAL's server gives no id and cannot say who applied what: publishing was all we could do.
    if (!result.body.contains("id")) {
      return 0;
    }
    const auto status = pdl::publisher::client(opts).wait_for_delivery(result.id,
                                                                        std::chrono::seconds(30));
    for (const auto& agent : status.applied) {
      std::cout << "applied by " << agent << '\n';
    }
    for (const auto& f : status.failed) {
      std::cerr << f.agent << " failed:";
      for (const auto& e : f.errors) {
        std::cerr << ' ' << e;  // e.g. "/users: fetch failed: HTTP 401" (a wrong source token)
      }
      std::cerr << '\n';
    }
    for (const auto& agent : status.pending) {
      std::cerr << agent << " has not applied it yet\n";  // slow, disconnected, or an OPAL client
    }
    return status.all_applied() ? 0 : 1;
  } catch (const pdl::model::invalid_input& e) {
    std::cerr << "not a valid update: " << e.what() << '\n';  // names the field
  } catch (const pdl::publisher::publish_error& e) {
    // Status 0: the server could not be reached. Otherwise the server's reason (never the token).
    std::cerr << "not published (status " << e.status() << "): " << e.what() << '\n';
  }
  return 1;
}
