#include "shared/cli/commands.hpp"

#include <chrono>
#include <exception>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <vector>

#include <CLI/CLI.hpp>

#include "shared/auth/secret_gen.hpp"
#include "shared/cli/delivery_report.hpp"
#include "shared/cli/parse.hpp"
#include "shared/cli/publish_args.hpp"
#include "shared/publisher/publisher.hpp"
#include "shared/tls/tls_context.hpp"

namespace pdl::cli {

struct common_commands::state {
  CLI::App* generate = nullptr;
  CLI::App* obtain = nullptr;
  CLI::App* publish = nullptr;

  // generate-secret
  int size = 32;
  std::string format = "urlsafe";

  // obtain-token
  std::string master;
  std::string token_server_url = "http://localhost:7002";
  std::string peer_type = "client";
  std::vector<std::string> ttl{"365", "days"};
  std::string claims = "{}";
  bool just_the_token = true;

  // publish-data-update
  std::string client_token;
  std::string publish_server_url = "http://localhost:7002";
  std::string route = "/data/config";
  std::string reason;
  std::string entries;
  std::string src_url;
  std::vector<std::string> topics;
  std::string data;
  std::string src_config = "{}";
  std::string dst_path;
  std::string save_method = "PUT";
  std::string fetched_by;
  CLI::Option* entries_opt = nullptr;
  CLI::Option* src_url_opt = nullptr;
  CLI::Option* data_opt = nullptr;
  std::string wait;  // "" = the flag without a value (30 s); see parse_wait

  // TLS, both commands (defaults from the agent's variables)
  std::string ca_file;
  std::string client_cert;
  std::string client_key;
  /** Options with the TLS files, checked first so a bad file is named by its flag.
   *  @throws std::runtime_error */
  publisher::options tls_options() const;
  void add_tls_flags(CLI::App* cmd);
  CLI::Option* wait_opt = nullptr;

  int run_generate();
  int run_obtain();
  int run_publish();
  int wait_for(const publisher::client& client, const publisher::publish_result& result,
               std::chrono::milliseconds timeout) const;
};

namespace {

bool is_ttl_unit(std::string u) {
  try {
    (void)parse_ttl({"1", std::move(u)});
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

int common_commands::state::run_generate() {
  try {
    std::cout << auth::generate_secret(size, format) << '\n';
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "generate-secret: " << e.what() << '\n';
    return 1;
  }
}

int common_commands::state::run_obtain() {
  try {
    // A MASTER that starts with '-' (Python's token_urlsafe makes one in 64) is an "unknown
    // option" to CLI11; it is the token when it is the only leftover and not an option name.
    std::vector<std::string> extras = obtain->remaining();
    std::erase(extras, "--");  // allow_extras keeps the separator itself
    if (master.empty() && extras.size() == 1 && extras[0].compare(0, 2, "--") != 0 &&
        extras[0].size() > 2) {
      master = extras[0];
      extras.clear();
    }
    if (!extras.empty()) {
      print_unexpected_arguments(extras, "opal-client obtain-token");
      return static_cast<int>(CLI::ExitCodes::ExtrasError);
    }
    // `--ttl 3600 MASTER` hands MASTER to --ttl (it takes 1 or 2 values): give it back.
    if (ttl.size() == 2 && master.empty() && !is_ttl_unit(ttl[1])) {
      master = ttl[1];
      ttl.pop_back();
    }
    if (master.empty()) {
      std::cerr << "obtain-token: the master token is required (argument MASTER or env "
                   "OPAL_MASTER_TOKEN)\n";
      return 1;
    }
    const double ttl_seconds = parse_ttl(ttl);
    const auto claims_json = parse_claims(claims);
    publisher::options opts = tls_options();
    opts.server_url = token_server_url;
    publisher::client client(opts);
    auto answer = client.obtain_token(secret(master), peer_type, ttl_seconds, claims_json);
    if (just_the_token) {
      std::cout << answer["token"].get<std::string>() << '\n';
    } else {
      std::cout << answer.dump(2) << '\n';
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "obtain-token: " << e.what() << '\n';
    return 1;
  }
}

int common_commands::state::wait_for(const publisher::client& client,
                                     const publisher::publish_result& result,
                                     std::chrono::milliseconds timeout) const {
  // OPAL's server answers {"status":"ok"} without an id: nothing to ask about.
  if (!result.body.contains("id") || result.id.empty()) {
    std::cerr << "publish-data-update: --wait: " << no_delivery_status_message << '\n';
    return wait_failed;
  }
  try {
    const auto status = client.wait_for_delivery(result.id, timeout);
    return report_delivery(status, timeout, std::cout, std::cerr);
  } catch (const publisher::publish_error& e) {
    // A 404 for an id the server accepted a moment ago: the route itself is missing.
    if (e.status() == 404) {
      std::cerr << "publish-data-update: --wait: " << no_delivery_status_message << '\n';
    } else {
      std::cerr << "publish-data-update: --wait: " << e.what() << '\n';
    }
    return wait_failed;
  }
}

int common_commands::state::run_publish() {
  try {
    // `--wait TOKEN` hands TOKEN to --wait (it takes 0 or 1 value): give it back.
    if (!wait.empty() && client_token.empty() && wait.find_first_not_of("0123456789.") !=
                                                     std::string::npos) {
      client_token = wait;
      wait.clear();
    }
    std::optional<std::chrono::milliseconds> wait_timeout;
    if (wait_opt->count() > 0) {
      wait_timeout = parse_wait(wait);  // before publishing: a bad flag sends nothing
    }
    publish_flags flags;
    if (entries_opt->count() > 0) {
      flags.entries_json = entries;
    }
    if (src_url_opt->count() > 0) {
      flags.src_url = src_url;
    }
    if (data_opt->count() > 0) {
      flags.data_json = data;
    }
    flags.topics = topics;
    flags.src_config_json = src_config;
    flags.dst_path = dst_path;
    flags.save_method = save_method;
    flags.fetched_by = fetched_by;
    flags.reason = reason;
    const auto update = build_data_update(flags);

    publisher::options opts = tls_options();
    opts.server_url = publish_server_url;
    opts.route = route;
    opts.token = secret(client_token);
    const publisher::client client(opts);
    auto result = client.publish(update);
    std::cout << "Event Published Successfully";
    if (!result.id.empty() || result.seq) {
      std::cout << " (";
      if (!result.id.empty()) {
        std::cout << "id " << result.id << (result.seq ? ", " : "");
      }
      if (result.seq) {
        std::cout << "seq " << *result.seq;
      }
      std::cout << ")";
    }
    std::cout << '\n';
    if (const auto b = result.body.find("blobs"); b != result.body.end() && b->is_array()) {
      for (const auto& blob : *b) {
        if (blob.is_object() && blob.value("sha256", nlohmann::json()).is_string()) {
          std::cout << "entry " << blob.value("entry", 0) << " fetched once by the server: blob "
                    << blob["sha256"].get<std::string>() << " ("
                    << blob.value("size", std::uint64_t{0}) << " bytes)\n";
        }
      }
    }
    std::cout << std::flush;  // --wait may take a while
    return wait_timeout ? wait_for(client, result, *wait_timeout) : 0;
  } catch (const publisher::publish_error& e) {
    std::cerr << "publish-data-update: refused: " << e.what() << '\n';
    return 1;
  } catch (const model::invalid_input& e) {
    std::cerr << "publish-data-update: invalid update: " << e.what() << '\n';
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "publish-data-update: " << e.what() << '\n';
    return 1;
  }
}

publisher::options common_commands::state::tls_options() const {
  publisher::options opts;
  opts.ca_file = ca_file;
  opts.client_cert = client_cert;
  opts.client_key = client_key;
  if (!ca_file.empty() || !client_cert.empty() || !client_key.empty()) {
    try {
      tls::context::client({ca_file, client_cert, client_key});
    } catch (const tls::tls_error& e) {
      using f = tls::tls_error::file;
      const char* flag = e.which() == f::ca    ? "--ca-file"
                         : e.which() == f::key ? "--client-key"
                                               : "--client-cert";
      throw std::runtime_error(std::string(flag) + ": " + e.what());
    }
  }
  return opts;
}

void common_commands::state::add_tls_flags(CLI::App* cmd) {
  cmd->add_option("--ca-file", ca_file, "PEM CA bundle the server's certificate must chain to "
                                        "(default: the system store)")
      ->envname("OPAL_CLIENT_SSL_CONTEXT_TRUSTED_CA_FILE");
  cmd->add_option("--client-cert", client_cert, "PEM client certificate (mTLS)")
      ->envname("OPAL_CLIENT_TLS_CLIENT_CERT");
  cmd->add_option("--client-key", client_key, "PEM private key of --client-cert")
      ->envname("OPAL_CLIENT_TLS_CLIENT_KEY");
}

common_commands::common_commands(CLI::App& app) : state_(std::make_unique<state>()) {
  auto& s = *state_;

  s.generate = app.add_subcommand("generate-secret", "Print a random secret (e.g. a master token)");
  s.generate->add_option("--size", s.size, "Number of random bytes")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  s.generate->add_option("--format", s.format, "urlsafe, hex or bytes")
      ->check(CLI::IsMember({"urlsafe", "hex", "bytes"}))
      ->capture_default_str();

  s.obtain = app.add_subcommand("obtain-token", "Obtain a JWT from the server (POST /token)");
  s.obtain->add_option("master", s.master, "The server's master token")
      ->envname("OPAL_MASTER_TOKEN");
  s.obtain->allow_extras();  // a MASTER starting with '-' reads as an unknown option: run_obtain
  s.obtain->add_option("--server-url,--uri", s.token_server_url, "Server URL")
      ->capture_default_str();
  s.obtain->add_option("--type", s.peer_type, "client, datasource or listener")
      ->check(CLI::IsMember({"client", "datasource", "listener"}))
      ->capture_default_str();
  s.obtain->add_option("--ttl", s.ttl, "Lifetime: N seconds, or N UNIT (e.g. 365 days)")
      ->expected(1, 2)
      ->capture_default_str();
  s.obtain->add_option("--claims", s.claims, "Extra claims, a JSON object")
      ->capture_default_str();
  s.obtain->add_flag("--just-the-token,!--no-just-the-token", s.just_the_token,
                     "Print only the token (default), or the whole answer");
  s.add_tls_flags(s.obtain);

  s.publish = app.add_subcommand("publish-data-update", "Publish a DataUpdate to the server");
  s.publish->add_option("token", s.client_token, "A datasource JWT")->envname("OPAL_CLIENT_TOKEN");
  s.publish->add_option("--server-url,--uri", s.publish_server_url, "Server URL")
      ->capture_default_str();
  s.publish->add_option("--server-route", s.route, "Route to POST to")->capture_default_str();
  s.publish->add_option("--reason", s.reason, "Why (logged by the agents)");
  s.entries_opt = s.publish->add_option("-e,--entries", s.entries,
                                        "JSON list of DataSourceEntry (ignored with --src-url)");
  s.src_url_opt = s.publish->add_option("--src-url", s.src_url, "URL the agents fetch from");
  s.publish->add_option("-t,--topic", s.topics, "Topic (repeatable)")
      ->allow_extra_args(false);  // one value per -t, so TOKEN is never swallowed
  s.data_opt = s.publish->add_option("--data", s.data, "Inline data, JSON");
  s.publish->add_option("--src-config", s.src_config, "Fetcher config, a JSON object")
      ->capture_default_str();
  s.publish->add_option("--dst-path", s.dst_path, "Where the data goes in the policy store");
  s.publish->add_option("--save-method", s.save_method, "PUT or PATCH")->capture_default_str();
  s.publish->add_option("--fetched-by", s.fetched_by,
                        "Who fetches --src-url: agent (each agent) or server (once, for every "
                        "agent; the source's headers stay at the server). Default: the "
                        "server's data.fetched_by_default");
  s.wait_opt = s.publish
                   ->add_option("--wait", s.wait,
                                "After publishing, wait up to SECONDS (default 30) until every "
                                "subscribed agent applied the update. Exit 0: all applied; 1: "
                                "an agent failed, or the server does not report delivery "
                                "(OPAL); 3: some had not applied it in time")
                   ->expected(0, 1)
                   ->default_str("30")  // what a bare --wait yields
                   ->type_name("[SECONDS]");
  s.add_tls_flags(s.publish);
}

common_commands::~common_commands() = default;

int common_commands::run_selected() {
  auto& s = *state_;
  if (s.generate->parsed()) {
    return s.run_generate();
  }
  if (s.obtain->parsed()) {
    return s.run_obtain();
  }
  if (s.publish->parsed()) {
    return s.run_publish();
  }
  return -1;
}

}  // namespace pdl::cli
