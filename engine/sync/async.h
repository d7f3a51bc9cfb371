// Small coroutine helpers for the sync layer on Boost.Asio 1.74 (which has
// no channels or awaitable operators yet). Internal to the engine.
#ifndef KINDRED_ENGINE_SYNC_ASYNC_H_
#define KINDRED_ENGINE_SYNC_ASYNC_H_

// clang-format off: Boost 1.74's awaitable.hpp uses std::exchange without
// including <utility>, so it has to come first.
#include <utility>
// clang-format on

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <optional>
#include <type_traits>

namespace kindred::sync {

namespace asio = boost::asio;

// A wake-up call for coroutines on one executor: Wait() suspends until the
// next Notify(). Every waiter wakes; waiters re-check their condition, so a
// spurious wake-up is harmless. Since the executor is single-threaded, a
// coroutine that checks its condition and then waits cannot miss a Notify.
// Not thread-safe: use on its executor only.
class Event {
 public:
  explicit Event(const asio::any_io_executor& executor) : timer_(executor) {
    timer_.expires_at(asio::steady_timer::time_point::max());
  }
  void Notify() { timer_.cancel(); }
  asio::awaitable<void> Wait() {
    boost::system::error_code ignored;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }

 private:
  asio::steady_timer timer_;  // never expires; cancel() wakes the waiters
};

// Runs `fn` (blocking work: the engine's disk and crypto) on `executor`
// and resumes the calling coroutine on its own executor with the result.
// `fn` must not throw.
template <typename F>
asio::awaitable<std::invoke_result_t<F>> Offload(const asio::any_io_executor& executor, F fn) {
  std::optional<std::invoke_result_t<F>> result;
  co_await asio::co_spawn(
      executor,
      [&]() -> asio::awaitable<void> {
        result.emplace(fn());
        co_return;
      },
      asio::use_awaitable);
  co_return std::move(*result);
}

// Sleeps on the calling coroutine's executor.
inline asio::awaitable<void> SleepFor(asio::steady_timer& timer,
                                      std::chrono::steady_clock::duration duration) {
  timer.expires_after(duration);
  boost::system::error_code ignored;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
}

}  // namespace kindred::sync

#endif  // KINDRED_ENGINE_SYNC_ASYNC_H_
