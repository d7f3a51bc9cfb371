#include "engine/pairing/discovery.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <array>
#include <string>
#include <string_view>

namespace kindred::pairing {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;
using boost::system::error_code;

constexpr std::string_view kProbeMagic = "KINDRED-PAIR?";
constexpr std::string_view kAnswerMagic = "KINDRED-PAIR!";
constexpr uint8_t kDiscoveryVersion = 1;
constexpr size_t kNonceBytes = 16;
constexpr size_t kProbeBytes = 13 + 1 + kNonceBytes;
constexpr size_t kAnswerBytes = 13 + 1 + kNonceBytes + 2;
// How long to wait for more answers once one has arrived.
constexpr std::chrono::milliseconds kGrace(250);

std::string Probe(std::string_view nonce) {
  std::string out(kProbeMagic);
  out.push_back(static_cast<char>(kDiscoveryVersion));
  out.append(nonce);
  return out;
}

}  // namespace

DiscoveryResponder::DiscoveryResponder(asio::any_io_executor executor, uint16_t tcp_port)
    : socket_(std::move(executor)), tcp_port_(tcp_port) {}

Result<udp::endpoint> DiscoveryResponder::Bind(const udp::endpoint& where) {
  error_code error;
  socket_.open(where.protocol(), error);
  if (!error) socket_.set_option(asio::socket_base::reuse_address(true), error);
  if (!error) socket_.bind(where, error);
  if (error) {
    error_code ignored;
    socket_.close(ignored);
    return Status::Unavailable("cannot listen for discovery on " + where.address().to_string() +
                               ":" + std::to_string(where.port()) + ": " + error.message());
  }
  udp::endpoint bound = socket_.local_endpoint(error);
  if (error) return Status::Unavailable("cannot read the discovery address: " + error.message());
  return bound;
}

asio::awaitable<void> DiscoveryResponder::Run() {
  std::array<char, 64> buffer{};
  while (!stopped_) {
    udp::endpoint sender;
    error_code error;
    const size_t n = co_await socket_.async_receive_from(
        asio::buffer(buffer), sender, asio::redirect_error(asio::use_awaitable, error));
    if (stopped_ || error == asio::error::operation_aborted) break;
    if (error) continue;  // e.g. an ICMP error from an earlier answer
    const std::string_view datagram(buffer.data(), n);
    if (n != kProbeBytes || datagram.substr(0, kProbeMagic.size()) != kProbeMagic ||
        static_cast<uint8_t>(datagram[kProbeMagic.size()]) != kDiscoveryVersion) {
      continue;  // not ours: say nothing
    }
    std::string answer(kAnswerMagic);
    answer.push_back(static_cast<char>(kDiscoveryVersion));
    answer.append(datagram.substr(kProbeMagic.size() + 1, kNonceBytes));
    answer.push_back(static_cast<char>(tcp_port_ >> 8));
    answer.push_back(static_cast<char>(tcp_port_ & 0xff));
    co_await socket_.async_send_to(asio::buffer(answer), sender,
                                   asio::redirect_error(asio::use_awaitable, error));
  }
}

void DiscoveryResponder::Stop() {
  stopped_ = true;
  error_code ignored;
  socket_.close(ignored);
}

asio::awaitable<Result<std::vector<tcp::endpoint>>> Discover(udp::endpoint target,
                                                             std::chrono::steady_clock::duration wait,
                                                             Random& random) {
  auto executor = co_await asio::this_coro::executor;
  // Shared with the timer's handler, which may run after this returns.
  auto socket = std::make_shared<udp::socket>(executor);
  error_code error;
  socket->open(target.protocol(), error);
  if (!error && target.address().is_v4() &&
      target.address().to_v4() == asio::ip::address_v4::broadcast()) {
    socket->set_option(asio::socket_base::broadcast(true), error);
  }
  if (error) co_return Status::Unavailable("cannot send a discovery probe: " + error.message());
  std::string nonce(kNonceBytes, '\0');
  random.Fill(reinterpret_cast<uint8_t*>(nonce.data()), nonce.size());
  const std::string probe = Probe(nonce);

  // Receive answers until `wait` has passed, sending the probe again at a
  // third and at two thirds of it (datagrams get lost).
  const auto start = std::chrono::steady_clock::now();
  auto deadline = start + wait;
  bool sent_any = false;
  std::string last_error;
  auto send = [&]() -> asio::awaitable<void> {
    error_code e;
    co_await socket->async_send_to(asio::buffer(probe), target,
                                  asio::redirect_error(asio::use_awaitable, e));
    if (e) {
      last_error = e.message();
    } else {
      sent_any = true;
    }
  };
  co_await send();
  int probes = 1;
  std::vector<tcp::endpoint> found;
  asio::steady_timer timer(executor);
  std::array<char, 64> buffer{};
  bool closed = false;
  while (std::chrono::steady_clock::now() < deadline) {
    const auto next_probe = start + wait * probes / 3;
    const auto until = probes < 3 ? std::min(next_probe, deadline) : deadline;
    // Wait for an answer until `until`: the timer closes the socket's wait.
    timer.expires_at(until);
    auto timed_out = std::make_shared<bool>(false);
    timer.async_wait([socket, timed_out](const error_code& e) {
      if (e) return;
      *timed_out = true;
      error_code ignored;
      socket->cancel(ignored);
    });
    udp::endpoint sender;
    error_code e;
    const size_t n = co_await socket->async_receive_from(
        asio::buffer(buffer), sender, asio::redirect_error(asio::use_awaitable, e));
    timer.cancel();
    if (*timed_out || e == asio::error::operation_aborted) {
      if (probes < 3 && std::chrono::steady_clock::now() < deadline) {
        co_await send();
        ++probes;
      }
      continue;
    }
    if (e) {
      if (!socket->is_open()) {
        closed = true;
        break;
      }
      continue;
    }
    const std::string_view datagram(buffer.data(), n);
    if (n != kAnswerBytes || datagram.substr(0, kAnswerMagic.size()) != kAnswerMagic ||
        static_cast<uint8_t>(datagram[kAnswerMagic.size()]) != kDiscoveryVersion ||
        datagram.substr(kAnswerMagic.size() + 1, kNonceBytes) != nonce) {
      continue;  // not an answer to this probe
    }
    const uint16_t port = static_cast<uint16_t>(
        (static_cast<uint8_t>(datagram[n - 2]) << 8) | static_cast<uint8_t>(datagram[n - 1]));
    if (port == 0) continue;
    tcp::endpoint endpoint(sender.address(), port);
    if (std::find(found.begin(), found.end(), endpoint) == found.end()) found.push_back(endpoint);
    // Other invites that heard the probe answer at about the same time.
    deadline = std::min(deadline, std::chrono::steady_clock::now() + kGrace);
    probes = 3;
  }
  static_cast<void>(closed);
  if (!sent_any) co_return Status::Unavailable("cannot send a discovery probe: " + last_error);
  co_return found;
}

}  // namespace kindred::pairing
