#include "server/ws_session.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <vector>
#include <set>

#include <unistd.h>

#include "server/async_dispatch.hpp"
#include "server/routes.hpp"
#include "server/server_context.hpp"
#include "server/ws_rpc.hpp"
#include "shared/log/log.hpp"
#include "shared/model/json_text.hpp"
#include "shared/net.hpp"
#include "shared/net/flex_stream.hpp"
#include "shared/rpc/rpc.hpp"

namespace pdl::server {
namespace {

std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("server.ws");
  return l;
}

/** The completion of a session's task: an exception of any type is logged once ("<what> failed:
 *  ..."), never rethrown into the event loop. */
void log_task_failure(const char* what, const std::exception_ptr& e) {
  if (!e) {
    return;
  }
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    logger()->error("{} failed: {}", what, model::exception_text(ex));
  } catch (...) {
    logger()->error("{} failed: an exception of unknown type", what);
  }
}

// How long a close handshake may take before the socket is simply closed (a peer that stopped
// reading never answers it).
constexpr auto close_grace = std::chrono::seconds(5);

bool is_normal_end(const beast::error_code& ec) {
  return ec == websocket::error::closed || ec == net::error::operation_aborted ||
         ec == net::error::eof || ec == net::error::connection_reset ||
         ec == beast::error::timeout || ec == net::error::bad_descriptor;
}

// Replay reads at most this much JSON from the log per step (plus one record).
constexpr std::size_t replay_batch_bytes = 4 * 1024 * 1024;

bool valid_agent_id(std::string_view id) {
  return !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
           c == ':' || c == '@';
  });
}

/** The send queue: a vector and the index of its front. Unlike std::deque it allocates nothing
 *  until used (a deque takes ~600 bytes at construction, per session). */
class frame_queue {
 public:
  std::size_t size() const noexcept { return items_.size() - head_; }
  bool empty() const noexcept { return size() == 0; }
  outgoing_frame& front() { return items_[head_]; }
  void push_back(outgoing_frame f) {
    if (head_ > 0 && head_ * 2 >= items_.size()) {
      // Drop the sent half (the frame being written moves, its bytes do not: they are shared).
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
    items_.push_back(std::move(f));
  }
  void pop_front() {
    items_[head_] = outgoing_frame{};
    if (++head_ == items_.size()) {
      clear();
    }
  }
  void pop_back() {
    items_.pop_back();
    if (head_ == items_.size()) {
      clear();
    }
  }
  void clear() {
    items_.clear();
    head_ = 0;
    if (items_.capacity() > 64) {
      items_.shrink_to_fit();
    }
  }

 private:
  std::vector<outgoing_frame> items_;
  std::size_t head_ = 0;
};

class ws_session final : public subscriber, public std::enable_shared_from_this<ws_session> {
 public:
  ws_session(server_context& ctx, flex_stream stream, std::shared_ptr<delivery_lane> lane,
             std::string id, std::string peer, caller who, session_peer info)
      : ctx_(ctx),
        lane_(std::move(lane)),
        ws_(std::move(stream)),
        close_timer_(ws_.get_executor()),
        id_(std::move(id)),
        peer_(std::move(peer)),
        info_(info.info),
        rpc_(ctx, id_, std::move(who), std::move(info)) {
    ++ctx_.stats.open_connections;
  }
  ~ws_session() override {
    // The read handler was destroyed without running (the event loop stopped): give the place
    // back all the same.
    if (registered_) {
      ctx_.subscriptions.detach(id_);
      ctx_.sessions.remove(id_);
      --ctx_.stats.open_sessions;
    }
    --ctx_.stats.open_connections;
  }

  const std::string& id() const override { return id_; }
  delivery_lane* lane() const override { return lane_.get(); }

  void deliver(outgoing_frame frame) override {
    net::post(ws_.get_executor(), [self = shared_from_this(), f = std::move(frame)]() mutable {
      self->on_live(std::move(f), false);
    });
  }

  const std::string* deliver_here(outgoing_frame frame) override {
    return on_live(std::move(frame), true);
  }

  void shut_down() override {
    net::post(ws_.get_executor(), [self = shared_from_this()] {
      self->begin_close(websocket::close_code::going_away);
    });
  }

  net::any_io_executor executor() { return ws_.get_executor(); }

  /** The handshake, then the read loop (callbacks: an open session keeps no coroutine frame);
   *  @p self keeps the session alive (coroutine parameters by value, STYLE H5). */
  static net::awaitable<void> run(std::shared_ptr<ws_session> self,
                                  http::request<http::empty_body> req) {
    auto& ws = self->ws_;
    const auto& cfg = self->ctx_.cfg;
    websocket::stream_base::timeout opt{};
    opt.handshake_timeout = close_grace;
    if (cfg.ws_ping_interval.count() > 0) {
      // A ping goes out after one quiet interval; no answer within the next one ends the session.
      opt.idle_timeout = 2 * cfg.ws_ping_interval;
      opt.keep_alive_pings = true;
    } else {
      opt.idle_timeout = websocket::stream_base::none();
      opt.keep_alive_pings = false;
    }
    ws.set_option(opt);
    ws.read_message_max(cfg.ws_max_message_bytes);
    // One frame per message: Beast's default would cut a large notify into 4 KiB frames, one
    // write each.
    ws.auto_fragment(false);
    bool echo = req.find(rpc::protocol_header) != req.end();
    const std::string log_id = self->ctx_.updates->log_id();
    ws.set_option(websocket::stream_base::decorator([echo, log_id](websocket::response_type& res) {
      res.set(http::field::server, "pdl-opal-server");
      if (echo) {
        res.set(rpc::protocol_header, rpc::protocol_version);
        res.set(rpc::log_id_header, log_id);
      }
    }));
    beast::error_code ec;
    co_await ws.async_accept(req, net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      logger()->info("conn={} peer={} handshake failed: {}", self->id_, self->peer_, ec.message());
      co_return;
    }
    if (echo && log_id.empty()) {
      // A shared log that has not reached Redis yet has no id to give: the agent could not
      // tell this seq space from another. It retries (1013) until the log is reachable.
      logger()->warn("conn={} peer={} the update log is not reachable yet: closing with 1013",
                     self->id_, self->peer_);
      co_await ws.async_close(websocket::close_code::try_again_later,
                              net::redirect_error(net::use_awaitable, ec));
      co_return;
    }
    self->open();
  }

 private:
  // A message is read into read_buf_ at most this much at a time: an idle session's pending
  // read holds a buffer this small (a whole message is still assembled, up to read_message_max).
  static constexpr std::size_t read_piece = 512;
  // A buffer grown past this by a large message is given back once the message is handled.
  static constexpr std::size_t keep_read_capacity = 4096;

  void open() {
    ++ctx_.stats.open_sessions;
    ctx_.subscriptions.attach(shared_from_this());
    ctx_.sessions.add(info_);
    registered_ = true;
    logger()->info("conn={} peer={} agent={} session open", id_, peer_, rpc_.agent_id());
    read_next();
  }

  void read_next() {
    ws_.async_read_some(read_buf_, read_piece,
                        beast::bind_front_handler(&ws_session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec) {
      end(ec);
      return;
    }
    if (!ws_.is_message_done()) {
      read_next();
      return;
    }
    if (ws_.got_text() && !closing_) {
      try {
        std::string text = beast::buffers_to_string(read_buf_.data());
        if (auto answer = rpc_.on_frame(text)) {
          enqueue(outgoing_frame::text(std::move(*answer)));
        }
        if (auto p = rpc_.take_publish()) {
          queue_publish(std::move(*p));
        }
        if (auto after = rpc_.take_resume()) {
          start_replay(*after);
        }
      } catch (const std::exception& e) {
        // One message that could not be handled ends neither the session nor the process:
        // logged here, once (without the frame, which may carry data), and left unanswered
        // (the peer's call times out, as for a frame we ignore).
        logger()->error("conn={} agent={} message not handled: {}", id_, rpc_.agent_id(),
                        model::exception_text(e));
      }
    }
    read_buf_.consume(read_buf_.size());
    if (read_buf_.capacity() > keep_read_capacity) {
      read_buf_.shrink_to_fit();
    }
    read_next();
  }

  /** The read loop is over: the session leaves the hub, the registry and the counters. */
  void end(const beast::error_code& ec) {
    if (!registered_) {
      return;
    }
    unregister();
    if (is_normal_end(ec)) {
      logger()->info("conn={} session closed ({})", id_, ec.message());
    } else {
      logger()->warn("conn={} session ended: {}", id_, ec.message());
    }
  }

  void unregister() {
    registered_ = false;
    ctx_.subscriptions.detach(id_);
    ctx_.sessions.remove(id_);
    --ctx_.stats.open_sessions;
    // A shut_down() posted before the detach may still run: it must not start a close
    // handshake (and its 5 s timer, which would keep this session alive) on a dead socket.
    ended_ = true;
    replaying_ = false;
    close_timer_.cancel();
    hard_close();
  }

  // ---- publishes over the socket -------------------------------------------------------------
  // Stored off the strand (the read loop keeps reading: pings and other calls are answered
  // meanwhile), one at a time per session so that a datasource's publishes keep their order.
  // Each holds a pending-publish slot from here to its answer, which bounds this queue too.

  void queue_publish(deferred_publish p) {
    auto slot = try_reserve_publish(ctx_);
    if (!slot) {
      enqueue(outgoing_frame::text(rpc_.publish_answer(p, overloaded_reply(ctx_, "ws"))));
      return;
    }
    publishes_.push_back(pending_publish{std::move(p), std::move(*slot)});  // rare: a vector
    if (publishing_) {
      return;
    }
    publishing_ = true;
    net::co_spawn(ws_.get_executor(), store_publishes(shared_from_this()),
                  [](std::exception_ptr e) { log_task_failure("publishing", e); });
  }

  static net::awaitable<void> store_publishes(std::shared_ptr<ws_session> self) {
    while (!self->publishes_.empty()) {
      pending_publish next = std::move(self->publishes_.front());
      self->publishes_.erase(self->publishes_.begin());
      http_reply r;
      try {
        r = co_await publish_async(self->ctx_, std::move(next.slot),
                                   std::move(next.publish.body), next.publish.who, "ws");
      } catch (...) {
        r = internal_error_reply(std::current_exception());
        logger()->error("conn={} publish failed: {}", self->id_, r.log_detail);
      }
      self->enqueue(outgoing_frame::text(self->rpc_.publish_answer(next.publish, r)));
    }
    self->publishing_ = false;
  }

  // ---- live delivery merged with replay -----------------------------------------------------
  // cursor_ is the last seq this session queued (or replay scanned past). While replaying, live
  // notifies are dropped: they are already in the log (fan-out happens after the append), and
  // replay reads up to intake.published_seq(), which covers every notify that reached us. So
  // the switch to live happens only once replay has caught up with everything dropped.

  /** @param batched the caller (a lane's fan-out task) tells the delivery tracker, for all
   *  its sessions at once. @return the agent id when @p f was taken as a live notify. */
  const std::string* on_live(outgoing_frame f, bool batched) {
    if (f.seq != 0) {
      if (f.seq <= cursor_) {
        return nullptr;  // already replayed
      }
      if (replaying_) {
        dropped_max_ = std::max(dropped_max_, f.seq);
        return nullptr;
      }
      cursor_ = f.seq;
      if (!batched && ctx_.deliveries) {
        ctx_.deliveries->delivered(f.seq, rpc_.agent_id());
      }
      // Counted before the frame can leave: enqueue() may start writing it at once, and a peer
      // that reads it and scrapes /metrics must see it counted.
      ++ctx_.stats.notifies_live;
      if (!enqueue(std::move(f))) {
        --ctx_.stats.notifies_live;
        return nullptr;
      }
      return &rpc_.agent_id();
    }
    enqueue(std::move(f));
    return nullptr;
  }

  /** A later subscribe with after_seq restarts the replay from there: the agent asked for
   *  everything after it (an agent whose engine lost its data resubscribes from 0). */
  void start_replay(std::uint64_t after_seq) {
    std::uint64_t published = ctx_.intake->published_seq();
    if (after_seq > published) {
      // The agent saw updates this log never had (a server with a fresh data directory):
      // its state cannot be trusted to line up with ours, so it gets everything.
      logger()->warn("conn={} agent={} resumes after seq {} but the log ends at {}: "
                     "replaying the whole log",
                     id_, rpc_.agent_id(), after_seq, published);
      after_seq = 0;
    }
    logger()->info("conn={} agent={} replay from seq {} to {}", id_, rpc_.agent_id(),
                   after_seq + 1, published);
    cursor_ = after_seq;
    replaying_ = true;
    replay_first_batch_ = true;
    ++replay_generation_;  // a batch still being read for an earlier replay is dropped
    replay_step();
  }

  /** Reads the next batch on the read pool (log reads may wait: pread, XRANGE); the batch comes
   *  back to the strand in on_replay_batch(). One read at a time per session. */
  void replay_step() {
    if (!replaying_ || closing_ || replay_reading_) {
      return;
    }
    const std::size_t window = std::max<std::size_t>(1, ctx_.cfg.ws_send_queue_max / 2);
    if (queue_.size() >= window) {
      return;  // on_write calls again as the queue drains
    }
    std::uint64_t target = ctx_.intake->published_seq();
    std::set<std::string> topics = ctx_.subscriptions.topics_of(id_);
    if (topics.empty()) {
      replaying_ = false;  // subscribed to nothing: nothing to replay
      return;
    }
    replay_reading_ = true;
    replay_read r;
    r.generation = replay_generation_;
    r.after = cursor_;
    r.target = target;
    r.topics = std::move(topics);
    r.max_records = window - queue_.size();
    r.first_batch = std::exchange(replay_first_batch_, false);
    net::post(*ctx_.read_pool, [self = shared_from_this(), ex = ws_.get_executor(),
                                r = std::move(r)]() mutable {
      try {
        if (r.first_batch) {
          r.first_seq = self->ctx_.updates->first_seq();
        }
        r.batch = self->ctx_.updates->read(r.after, r.target, r.topics, r.max_records,
                                           replay_batch_bytes);
      } catch (const std::exception& e) {
        r.error = e.what();
      } catch (...) {
        r.error = "an exception of unknown type";
      }
      net::post(ex, [self = std::move(self), r = std::move(r)]() mutable {
        self->on_replay_batch(std::move(r));
      });
    });
  }

  struct replay_read {
    std::uint64_t generation = 0;
    std::uint64_t after = 0;
    std::uint64_t target = 0;
    std::set<std::string> topics;
    std::size_t max_records = 0;
    bool first_batch = false;
    std::uint64_t first_seq = 0;
    log_batch batch;
    std::string error;  // non-empty: the read failed
  };

  void on_replay_batch(replay_read r) {
    replay_reading_ = false;
    if (r.generation != replay_generation_) {
      replay_step();  // a later subscribe restarted the replay meanwhile
      return;
    }
    if (!replaying_ || closing_ || ended_) {
      return;
    }
    if (!r.error.empty()) {
      logger()->error("conn={} replay failed: {}: closing", id_, r.error);
      begin_close(websocket::close_code::try_again_later);
      return;
    }
    if (r.first_batch && r.after + 1 < r.first_seq) {
      logger()->info("conn={} agent={} older history is compacted (complete from seq {}): "
                     "replaying the compacted log",
                     id_, rpc_.agent_id(), r.first_seq);
    }
    const log_batch& b = r.batch;
    for (const auto& rec : b.records) {
      if (rec.seq <= cursor_ || rec.topics.empty()) {
        continue;
      }
      const std::string* topic = &rec.topics.front();
      for (const auto& t : rec.topics) {
        if (r.topics.count(t) != 0) {
          topic = &t;
          break;
        }
      }
      cursor_ = rec.seq;
      if (ctx_.deliveries) {
        ctx_.deliveries->delivered(rec.seq, rpc_.agent_id());
      }
      ++ctx_.stats.notifies_replayed;  // before it can leave, as for live notifies
      if (!enqueue(outgoing_frame{std::make_shared<const std::string>(notify_head(id_, id_, *topic)),
                                  notify_tail(*rec.json, rpc::new_call_id()), rec.seq})) {
        --ctx_.stats.notifies_replayed;
      }
    }
    cursor_ = std::max(cursor_, b.scanned_to);
    if (cursor_ >= r.target && dropped_max_ <= cursor_) {
      replaying_ = false;
      logger()->info("conn={} agent={} replay done at seq {}: live from here", id_,
                     rpc_.agent_id(), cursor_);
      return;
    }
    replay_step();  // continues now if the queue has room, else when a write drains it
  }

  /** @return false when the frame was dropped (closing, or the queue overflowed). */
  bool enqueue(outgoing_frame f) {
    if (closing_) {
      return false;
    }
    if (queue_.size() >= ctx_.cfg.ws_send_queue_max) {
      ++ctx_.stats.slow_sessions_closed;
      logger()->warn("conn={} peer={} send queue full ({} frames): closing with 1013", id_,
                     peer_, queue_.size());
      begin_close(websocket::close_code::try_again_later);
      return false;
    }
    ++ctx_.stats.notifies_queued;
    queue_.push_back(std::move(f));
    queue_changed();
    if (!writing_) {
      do_write();
    }
    return true;
  }

  void queue_changed() { info_->queued_frames.store(queue_.size(), std::memory_order_relaxed); }

  /** Writes the queue's front (and, on a plaintext session, every frame the socket takes at
   *  once). A plaintext session frames its own notifies and answers (text_frame_header) and
   *  writes them raw beside Beast, which keeps its control frames (flex_stream's write
   *  arbiter keeps the two apart): no composed operation, no allocation, no executor hop per
   *  frame when the socket has room, which is almost always. */
  void do_write() {
    if (!ws_.next_layer().raw_writes()) {
      writing_ = true;
      const outgoing_frame& f = queue_.front();
      std::array<net::const_buffer, 2> bufs{
          net::buffer(*f.head), f.tail ? net::buffer(*f.tail) : net::const_buffer{}};
      ws_.text(true);
      ws_.async_write(bufs, beast::bind_front_handler(&ws_session::on_write, shared_from_this()));
      return;
    }
    while (!queue_.empty() && !writing_) {
      const outgoing_frame& f = queue_.front();
      const std::size_t header = text_frame_header(wr_header_, f.size());
      flex_stream::write_buffers bufs{net::buffer(wr_header_.data(), header), net::buffer(*f.head),
                                      f.tail ? net::buffer(*f.tail) : net::const_buffer{}};
      const std::size_t count = f.tail ? 3 : 2;
      beast::error_code ec;
      const std::size_t n = ws_.next_layer().try_raw_write(bufs, count, ec);
      if (ec) {
        on_write(ec, 0);
        return;
      }
      if (n == header + f.size()) {
        queue_.pop_front();
        queue_changed();
        continue;
      }
      // The socket is full (or Beast is writing): the rest when it drains.
      writing_ = true;
      ws_.next_layer().async_raw_write(
          bufs, count, n,
          io_completion(beast::bind_front_handler(&ws_session::on_write, shared_from_this()),
                        ws_.get_executor()));
    }
  }

  /** RFC 6455 5.2: FIN, text, unmasked (server to client), and the payload length. */
  static std::size_t text_frame_header(std::array<char, 10>& h, std::size_t len) {
    h[0] = static_cast<char>(0x81);
    if (len < 126) {
      h[1] = static_cast<char>(len);
      return 2;
    }
    if (len < 65536) {
      h[1] = 126;
      h[2] = static_cast<char>((len >> 8) & 0xFF);
      h[3] = static_cast<char>(len & 0xFF);
      return 4;
    }
    h[1] = 127;
    for (int i = 0; i < 8; ++i) {
      h[2 + i] = static_cast<char>((static_cast<std::uint64_t>(len) >> (56 - 8 * i)) & 0xFF);
    }
    return 10;
  }

  void on_write(beast::error_code ec, std::size_t) {
    writing_ = false;
    if (ec) {
      queue_.clear();
      queue_changed();
      if (!is_normal_end(ec)) {
        logger()->info("conn={} write failed: {}", id_, ec.message());
      }
      hard_close();
      return;
    }
    queue_.pop_front();
    queue_changed();
    if (!queue_.empty() && !closing_) {
      do_write();
    }
    replay_step();
  }

  void begin_close(websocket::close_code code) {
    if (ended_) {
      return;
    }
    if (closing_) {
      if (code == websocket::close_code::going_away) {
        hard_close();  // shutting down: do not wait for a close that is stuck behind a write
      }
      return;
    }
    closing_ = true;
    ctx_.subscriptions.detach(id_);
    // Keep only the frame being written (its buffers are in use).
    while (queue_.size() > (writing_ ? 1u : 0u)) {
      queue_.pop_back();
    }
    queue_changed();
    ws_.async_close(websocket::close_reason(code),
                    [self = shared_from_this()](beast::error_code) {});
    close_timer_.expires_after(close_grace);
    close_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) {
        self->hard_close();
      }
    });
  }

  void hard_close() {
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

  server_context& ctx_;
  std::shared_ptr<delivery_lane> lane_;  // null: the strand is the session's own (TLS)
  websocket::stream<flex_stream> ws_;
  net::steady_timer close_timer_;
  std::string id_;
  std::string peer_;
  std::shared_ptr<session_info> info_;  // never null; queued_frames written on the strand
  ws_rpc rpc_;
  frame_queue queue_;  // strand only
  bool registered_ = false;  // in the hub and the registry (between open() and unregister())
  beast::flat_buffer read_buf_;  // the message being read
  bool writing_ = false;
  std::array<char, 10> wr_header_{};  // the header of the frame being written raw
  bool closing_ = false;
  // strand only: see on_live()
  std::uint64_t cursor_ = 0;
  std::uint64_t dropped_max_ = 0;
  bool replaying_ = false;
  bool replay_reading_ = false;  // a batch is being read on the read pool
  bool replay_first_batch_ = false;  // the next read also reads first_seq() (for the log)
  std::uint64_t replay_generation_ = 0;
  bool ended_ = false;  // the read loop is over
  // strand only: publishes waiting to be stored, in arrival order (see queue_publish)
  struct pending_publish {
    deferred_publish publish;
    publish_slot slot;
  };
  std::vector<pending_publish> publishes_;
  bool publishing_ = false;
};




class strand_lane final : public delivery_lane {
 public:
  explicit strand_lane(net::io_context& ioc) : strand_(net::make_strand(ioc)) {}
  void post(std::function<void()> task) override { net::post(strand_, std::move(task)); }
  net::any_io_executor executor() const { return strand_; }

 private:
  net::strand<net::io_context::executor_type> strand_;
};

}  // namespace

struct ws_lanes::impl {
  std::vector<std::shared_ptr<strand_lane>> lanes;
  std::atomic<std::size_t> next{0};
};

ws_lanes::ws_lanes(net::io_context& ioc, std::size_t count) : impl_(std::make_unique<impl>()) {
  for (std::size_t i = 0; i < std::max<std::size_t>(1, count); ++i) {
    impl_->lanes.push_back(std::make_shared<strand_lane>(ioc));
  }
}

ws_lanes::~ws_lanes() = default;

namespace {

/** Moves a plaintext stream's socket onto @p lane's strand (the HTTP connection had a strand of
 *  its own). @return false when the socket could not be moved (logged; it is closed). */
bool move_to_lane(flex_stream& stream, const strand_lane& lane, const std::string& peer) {
  beast::error_code ec;
  auto protocol = stream.socket().local_endpoint(ec).protocol();
  if (!ec) {
    int fd = stream.socket().release(ec);
    if (!ec) {
      tcp::socket sock(lane.executor());
      sock.assign(protocol, fd, ec);
      if (!ec) {
        stream = flex_stream(std::move(sock));
        stream.expires_never();  // Beast's WebSocket timeouts take over
        return true;
      }
      ::close(fd);
    }
  }
  logger()->error("peer={} cannot move the upgraded socket to a session lane: {}", peer,
                  ec.message());
  return false;
}

}  // namespace

void start_ws_session(server_context& ctx, ws_lanes& lanes, flex_stream stream,
                      ws_upgrade upgrade, caller who) {
  std::shared_ptr<strand_lane> lane;
  if (!stream.is_tls()) {
    auto& all = lanes.impl_->lanes;
    lane = all[lanes.impl_->next.fetch_add(1, std::memory_order_relaxed) % all.size()];
    if (!move_to_lane(stream, *lane, upgrade.peer)) {
      return;
    }
  }
  http::request<http::empty_body> req{http::verb::get, upgrade.target, 11};
  for (auto& [name, value] : upgrade.headers) {
    req.insert(name, value);
  }
  session_peer info;
  std::string session_id = rpc::new_call_id();
  info.info = std::make_shared<session_info>();
  info.info->session_id = session_id;
  info.info->address = upgrade.peer;
  info.info->connected_since = std::chrono::system_clock::now();
  for (const auto& [name, value] : upgrade.headers) {
    if (beast::iequals(name, rpc::protocol_header)) {
      info.protocol1 = value == rpc::protocol_version;
    } else if (beast::iequals(name, "X-PDL-Agent-Id")) {
      if (valid_agent_id(value)) {
        info.agent_id = value;
      } else {
        logger()->warn("peer={} X-PDL-Agent-Id refused (1-128 chars of [A-Za-z0-9._:@-]): "
                       "using the session id",
                       upgrade.peer);
      }
    }
  }
  info.info->protocol1 = info.protocol1;
  info.info->agent_id = info.agent_id.empty() ? session_id : info.agent_id;
  auto session = std::make_shared<ws_session>(ctx, std::move(stream), std::move(lane),
                                              std::move(session_id),
                                              std::move(upgrade.peer), std::move(who),
                                              std::move(info));
  auto ex = session->executor();
  net::co_spawn(ex, ws_session::run(std::move(session), std::move(req)),
                [](std::exception_ptr e) { log_task_failure("session", e); });
}

}  // namespace pdl::server
