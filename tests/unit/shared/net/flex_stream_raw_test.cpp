// flex_stream's write arbiter: raw writes (a WebSocket session's own frames) and the layer
// above's writes (Beast's control frames) never interleave, even when either is cut short by
// a full socket.
#include <gtest/gtest.h>

#include <string>

#include "shared/net.hpp"
#include "shared/net/flex_stream.hpp"

namespace pdl {
namespace {

struct socket_pair {
  net::io_context ioc;
  tcp::socket client{ioc};
  std::unique_ptr<flex_stream> server;

  socket_pair() {
    tcp::acceptor acc(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    client.connect(acc.local_endpoint());
    tcp::socket s(ioc);
    acc.accept(s);
    // Small buffers: a few hundred KB fill them, so writes are cut short.
    s.set_option(net::socket_base::send_buffer_size(16 * 1024));
    client.set_option(net::socket_base::receive_buffer_size(16 * 1024));
    server = std::make_unique<flex_stream>(std::move(s));
    server->expires_never();
  }

  /** Reads until @p n bytes arrived (runs the io_context meanwhile). */
  std::string read_all(std::size_t n) {
    std::string out;
    out.resize(n);
    std::size_t got = 0;
    std::function<void()> more = [&] {
      client.async_read_some(net::buffer(out.data() + got, n - got),
                             [&](beast::error_code ec, std::size_t k) {
                               ASSERT_FALSE(ec) << ec.message();
                               got += k;
                               if (got < n) more();
                             });
    };
    more();
    ioc.run();
    ioc.restart();
    EXPECT_EQ(got, n);
    return out;
  }
};

TEST(flex_stream_raw, a_write_of_the_layer_above_waits_for_an_unfinished_raw_write) {
  socket_pair p;
  ASSERT_TRUE(p.server->raw_writes());
  const std::string a(2 << 20, 'a');
  const std::string b = "BBBB";
  flex_stream::write_buffers bufs{net::buffer(a)};
  beast::error_code ec;
  const std::size_t n = p.server->try_raw_write(bufs, 1, ec);
  ASSERT_FALSE(ec);
  ASSERT_GT(n, 0u);
  ASSERT_LT(n, a.size());  // the socket is full: cut short
  bool raw_done = false, above_done = false;
  p.server->async_raw_write(bufs, 1, n, io_completion([&](beast::error_code e, std::size_t) {
                                          EXPECT_FALSE(e);
                                          EXPECT_FALSE(above_done);
                                          raw_done = true;
                                        },
                                        p.ioc.get_executor()));
  // While the raw write is unfinished, nothing else is written raw...
  EXPECT_EQ(p.server->try_raw_write(flex_stream::write_buffers{net::buffer(b)}, 1, ec), 0u);
  // ...and the layer above's write goes after it.
  p.server->async_write_some(net::buffer(b), [&](beast::error_code e, std::size_t k) {
    EXPECT_FALSE(e);
    EXPECT_EQ(k, b.size());
    EXPECT_TRUE(raw_done);
    above_done = true;
  });
  std::string got = p.read_all(a.size() + b.size());
  EXPECT_TRUE(raw_done);
  EXPECT_TRUE(above_done);
  EXPECT_EQ(got, a + b);
}

TEST(flex_stream_raw, a_raw_write_waits_until_the_layer_above_finished_what_it_started) {
  socket_pair p;
  const std::string c(2 << 20, 'c');
  const std::string d = "DDDD";
  bool above_done = false, raw_done = false;
  // A composed write: several write_some calls, the first cut short by the full socket.
  net::async_write(*p.server, net::buffer(c), [&](beast::error_code e, std::size_t k) {
    EXPECT_FALSE(e);
    EXPECT_EQ(k, c.size());
    above_done = true;
  });
  // The first write_some was attempted at once and cut short: no raw write may go now...
  beast::error_code ec;
  flex_stream::write_buffers bufs{net::buffer(d)};
  EXPECT_EQ(p.server->try_raw_write(bufs, 1, ec), 0u);
  // ...and an asynchronous one waits for the end of it.
  p.server->async_raw_write(bufs, 1, 0, io_completion([&](beast::error_code e, std::size_t) {
                                          EXPECT_FALSE(e);
                                          EXPECT_TRUE(above_done);
                                          raw_done = true;
                                        },
                                        p.ioc.get_executor()));
  std::string got = p.read_all(c.size() + d.size());
  EXPECT_TRUE(above_done);
  EXPECT_TRUE(raw_done);
  EXPECT_EQ(got, c + d);
}

TEST(flex_stream_raw, a_whole_raw_write_goes_at_once_when_the_socket_has_room) {
  socket_pair p;
  const std::string h = "\x81\x05", body = "hello";
  flex_stream::write_buffers bufs{net::buffer(h), net::buffer(body)};
  beast::error_code ec;
  EXPECT_EQ(p.server->try_raw_write(bufs, 2, ec), h.size() + body.size());
  EXPECT_FALSE(ec);
  EXPECT_EQ(p.read_all(7), h + body);
}

}  // namespace
}  // namespace pdl
