#pragma once
// Secrets by reference: a header value in an entry's src-config may say `${secret:NAME}`
// (alone or inside text: `Bearer ${secret:billing-token}`), and the agent puts in the secret
// from its own files or environment, so the secret itself never travels through the server
// (docs/secrets.md). Lookup: the file NAME in fetch.secrets_dir (a mounted Kubernetes Secret:
// one file per key; one trailing newline dropped), else the variable OPAL_SECRET_<NAME> (NAME
// upper-cased, '-' and '.' as '_'). Only names of [A-Za-z0-9._-] are looked up, so a publisher
// can name a secret but never another file or variable.
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "shared/log/secret.hpp"

namespace pdl::agent {

class secret_refs {
 public:
  /** The environment, as a lookup (tests pass their own). */
  using env_lookup = std::function<std::optional<std::string>(const std::string&)>;

  /** @p dir may be empty (files are not looked at). */
  secret_refs(std::string dir, env_lookup env);

  /** Whether @p value holds a reference (cheap; no lookup). */
  static bool has_reference(std::string_view value);

  /**
   * @p value with every `${secret:NAME}` replaced by the secret. Reads files: call it where
   * blocking is allowed (the fetcher's preparation runs on the worker pool).
   * @throws std::runtime_error naming @p header and the secret (never a value): an unknown
   * secret, a malformed reference, a secret with a line break (header injection) or over 64 KiB.
   */
  secret resolve(std::string_view header, const secret& value) const;

  /** The variable a secret NAME is looked up in: OPAL_SECRET_<NAME>. */
  static std::string variable_of(std::string_view name);

 private:
  std::optional<std::string> lookup(const std::string& name) const;

  std::string dir_;
  env_lookup env_;
};

}  // namespace pdl::agent
