#pragma once
// The one umbrella header for Asio and Beast. Include it (never Boost headers directly) from the
// few .cpp files that do network I/O; headers forward-declare or hide Beast behind plain types.
//
// <utility> first: Boost 1.74's awaitable.hpp uses std::exchange without including it (GCC 12).
#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

namespace pdl {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = boost::asio::ip::tcp;
}  // namespace pdl
