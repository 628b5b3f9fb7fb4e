// Micro-benchmarks (Google Benchmark): the forwarding path's incremental JSON validator in MB/s,
// fed in 64 KiB chunks as the agent feeds it, and the server's notify frame build per subscriber.
#include <string>

#include <benchmark/benchmark.h>

#include "server/notify_frame.hpp"
#include "shared/model/json_validator.hpp"
#include "shared/rpc/rpc.hpp"

namespace {

std::string make_doc(std::size_t bytes) {
  std::string s = "{\"users\":{";
  for (std::size_t i = 0; s.size() + 200 < bytes; ++i) {
    if (i) s += ',';
    s += "\"user-" + std::to_string(i) + "\":{\"name\":\"User number " + std::to_string(i) +
         "\",\"role\":\"viewer\",\"manager\":null,\"groups\":[\"team-1\",\"region-2\"],"
         "\"active\":true,\"quota\":" + std::to_string(i % 1000) + ".5}";
  }
  s += "}}";
  return s;
}

void json_validator_chunks(benchmark::State& state) {
  static const std::string doc = make_doc(8u * 1024 * 1024);
  const std::size_t chunk = 64 * 1024;
  for (auto _ : state) {
    pdl::model::json_validator v;
    for (std::size_t off = 0; off < doc.size(); off += chunk) {
      v.feed(std::string_view(doc).substr(off, chunk));
    }
    bool ok = v.finish();
    benchmark::DoNotOptimize(ok);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * doc.size()));
}
BENCHMARK(json_validator_chunks)->Unit(benchmark::kMillisecond);

void notify_frame_per_subscriber(benchmark::State& state) {
  std::string data(static_cast<std::size_t>(state.range(0)), 'x');
  std::string update = "{\"id\":\"u1\",\"entries\":[{\"url\":\"\",\"data\":\"" + data + "\"}]}";
  auto tail = pdl::server::notify_tail(update, pdl::rpc::new_call_id());
  std::string sub = pdl::rpc::new_call_id();
  for (auto _ : state) {
    // Per subscriber only the head is built; the tail is shared.
    auto head = pdl::server::notify_head(sub, sub, "bench");
    benchmark::DoNotOptimize(head);
  }
  benchmark::DoNotOptimize(tail);
}
BENCHMARK(notify_frame_per_subscriber)->Arg(1024);

void notify_frame_full_encode(benchmark::State& state) {
  std::string data(static_cast<std::size_t>(state.range(0)), 'x');
  std::string update = "{\"id\":\"u1\",\"entries\":[{\"url\":\"\",\"data\":\"" + data + "\"}]}";
  std::string sub = pdl::rpc::new_call_id();
  for (auto _ : state) {
    // What a naive server would do per subscriber: encode the whole frame.
    auto f = pdl::rpc::encode_request(
        "notify", pdl::rpc::encode_notify_arguments(sub, sub, "bench", update), sub);
    benchmark::DoNotOptimize(f);
  }
}
BENCHMARK(notify_frame_full_encode)->Arg(1024);

}  // namespace
