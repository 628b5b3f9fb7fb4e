#pragma once
#include <stdexcept>
#include <string>

namespace pdl::model {

/** Bad input, with the JSON path of the offending field ("entries[1].topics[0]") and a message
 *  a user can act on. what() is "<path>: <message>" (or just the message when path is empty). */
class invalid_input : public std::runtime_error {
 public:
  invalid_input(std::string path, std::string message)
      : std::runtime_error(path.empty() ? message : path + ": " + message),
        path_(std::move(path)),
        message_(std::move(message)) {}
  const std::string& path() const noexcept { return path_; }
  const std::string& message() const noexcept { return message_; }

 private:
  std::string path_;
  std::string message_;
};

}  // namespace pdl::model
