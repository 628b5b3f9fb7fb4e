#pragma once
// Runs a blocking function (an HTTP transfer, a file write, an fsync, a Redis round trip) on a
// thread pool and resumes the awaiting coroutine on its own executor (a strand stays a strand).
// The agent and the server both use it (STYLE H6). Include only from .cpp files that do I/O (it
// pulls in Asio through shared/net.hpp).
//
// Why not `co_await net::post(pool, net::use_awaitable)`: in Asio the coroutine stays bound to its
// own executor, so that does not move the work off the event loop.
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "shared/net.hpp"

namespace pdl {

/**
 * Calls @p fn on @p pool; the awaiting coroutine resumes on its executor with fn's result, or
 * with fn's exception rethrown. Never completes inline. The io_context is kept busy (work guard)
 * until the result is delivered. Cancelling is not supported: fn runs to completion, so give it
 * its own timeouts. @p fn is taken by value and must not reference the coroutine's locals unless
 * the caller awaits in the same statement (it does: the frame outlives the call).
 */
template <class Fn>
auto offload(net::thread_pool& pool, Fn fn) -> net::awaitable<std::invoke_result_t<Fn&>> {
  using result_t = std::invoke_result_t<Fn&>;
  if constexpr (std::is_void_v<result_t>) {
    co_await net::async_initiate<decltype(net::use_awaitable), void(std::exception_ptr)>(
        [&pool](auto handler, Fn f) {
          auto work = net::make_work_guard(handler);
          net::post(pool, [handler = std::move(handler), f = std::move(f),
                           work = std::move(work)]() mutable {
            std::exception_ptr ep;
            try {
              f();
            } catch (...) {
              ep = std::current_exception();
            }
            auto ex = work.get_executor();
            net::post(ex, [handler = std::move(handler), ep]() mutable { handler(ep); });
            work.reset();
          });
        },
        net::use_awaitable, std::move(fn));
  } else {
    using slot_t = std::optional<result_t>;
    slot_t out = co_await net::async_initiate<decltype(net::use_awaitable),
                                              void(std::exception_ptr, slot_t)>(
        [&pool](auto handler, Fn f) {
          auto work = net::make_work_guard(handler);
          net::post(pool, [handler = std::move(handler), f = std::move(f),
                           work = std::move(work)]() mutable {
            std::exception_ptr ep;
            slot_t value;
            try {
              value.emplace(f());
            } catch (...) {
              ep = std::current_exception();
            }
            auto ex = work.get_executor();
            net::post(ex, [handler = std::move(handler), ep, value = std::move(value)]() mutable {
              handler(ep, std::move(value));
            });
            work.reset();
          });
        },
        net::use_awaitable, std::move(fn));
    co_return std::move(*out);
  }
}

}  // namespace pdl
