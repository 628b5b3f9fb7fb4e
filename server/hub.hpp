#pragma once
// The subscription table and the fan-out. Sessions register as `subscriber`s; publish() sends
// each matching session the update ONCE, whatever number of its topics match, and never waits
// for a session: delivery is a non-blocking hand-off into the session's bounded queue.
//
// Sessions that share a strand (a `delivery_lane`) are served by one task per lane and update:
// one post instead of one per session, and the frame handed over directly on the lane.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "server/notify_frame.hpp"
#include "shared/model/data_update.hpp"

namespace pdl::server {

/** Sessions that run on one strand. */
class delivery_lane {
 public:
  virtual ~delivery_lane() = default;
  /** Runs @p task on the lane's strand, later (never inline). Thread-safe. */
  virtual void post(std::function<void()> task) = 0;
};

/** What the hub needs of a WebSocket session. */
class subscriber {
 public:
  virtual ~subscriber() = default;
  /** Stable id (32 hex chars), also used as subscription id and subscriber_id on the wire. */
  virtual const std::string& id() const = 0;
  /** The lane whose strand this session runs on; nullptr: a strand of its own (deliver()). */
  virtual delivery_lane* lane() const { return nullptr; }
  /** Queues @p frame for sending. Thread-safe, never blocks, never completes inline: the
   *  session applies its queue bound on its own strand. */
  virtual void deliver(outgoing_frame frame) = 0;
  /**
   * On lane()'s strand only: queues @p frame now. @return the agent id when the frame is a
   * notify the session took as a live delivery (the hub reports these to its delivery
   * observer in one call per lane), else nullptr (already replayed, dropped, or an answer).
   */
  virtual const std::string* deliver_here(outgoing_frame frame) {
    deliver(std::move(frame));
    return nullptr;
  }
  /** Starts a graceful close with 1001 (going away). Thread-safe. */
  virtual void shut_down() = 0;
};

/**
 * @par Thread safety
 * Every member may be called from any thread. The table is guarded by a mutex; publish() copies
 * the recipients out under the lock and delivers outside it.
 */
class hub {
 public:
  /** Told, on a lane's strand, which agents a lane handed update @p seq to (lane sessions only:
   *  the others report their own deliveries). The pointers live for the call. */
  using delivered_fn =
      std::function<void(std::uint64_t seq, const std::vector<const std::string*>& agents)>;
  /** Set once, before any session attaches. */
  void on_delivered(delivered_fn f) { on_delivered_ = std::move(f); }

  void attach(const std::shared_ptr<subscriber>& s);
  /** Removes the session and all its subscriptions. */
  void detach(const std::string& id);
  void subscribe(const std::string& id, const std::vector<std::string>& topics);
  void unsubscribe(const std::string& id, const std::vector<std::string>& topics);
  std::set<std::string> topics_of(const std::string& id) const;

  /**
   * Delivers @p update (whose entries' topics are already expanded) to every session subscribed
   * to one of @p topics; subscription.topic is the first of @p topics (in order) the session
   * subscribed to. The DataUpdate JSON is built once and shared by all frames, and each
   * session's head for a topic was built when it subscribed.
   * @return the number of sessions the update was handed to.
   */
  std::size_t publish(const model::data_update& update, const std::vector<std::string>& topics);

  /**
   * Sends a notify carrying @p data_json on each of @p topics to every session subscribed to
   * it: one frame per session and topic, as OPAL announces a policy change on policy:<dir>
   * topics. Not an update: no seq, not logged, not replayed (a client asks GET /policy with its
   * hash on every connect). @return the number of frames handed over.
   */
  std::size_t announce(const std::vector<std::string>& topics, const std::string& data_json);

  std::size_t session_count() const;
  /** shut_down() on every attached session. */
  void shut_down_all();

 private:
  struct entry {
    std::weak_ptr<subscriber> session;
    delivery_lane* lane = nullptr;
    /** topic -> the notify head for it (notify_head(id, id, topic)). */
    std::map<std::string, std::shared_ptr<const std::string>> topics;
  };
  struct recipient {
    std::shared_ptr<subscriber> session;
    std::shared_ptr<const std::string> head;
  };
  /** Hands @p frames' recipients their frame: one post per lane, deliver() for the others. */
  void hand_over(std::vector<std::pair<delivery_lane*, std::vector<recipient>>> by_lane,
                 std::shared_ptr<const std::string> tail, std::uint64_t seq);

  delivered_fn on_delivered_;
  mutable std::mutex mu_;
  std::map<std::string, entry> sessions_;  // guarded by mu_
};

}  // namespace pdl::server
