// Tests for boxoffice-load's pure parts: the msgpack-rpc and HTTP reply parsers on whole, split
// and byte-by-byte input, the open-loop schedule and the on-sale's shared seat bitmap.
#include <gtest/gtest.h>

#include <msgpack.hpp>
#include <string>

#include "tools/load/http_codec.h"
#include "tools/load/rpc_codec.h"
#include "tools/load/scenario.h"
#include "tools/load/schedule.h"

namespace boxoffice::load {
namespace {

std::string buy_reply(uint32_t msgid) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> pk(buffer);
  pk.pack_array(4);
  pk.pack(1);
  pk.pack(msgid);
  pk.pack_nil();
  pk.pack_map(2);
  pk.pack("tickets");
  pk.pack_array(1);
  pk.pack_map(2);
  pk.pack("id");
  pk.pack(std::string("00000000-0005-8bd7-8000-d836c88f2d65"));
  pk.pack("seat");
  pk.pack_map(2);
  pk.pack("index");
  pk.pack(17);
  pk.pack("row");
  pk.pack("B");
  pk.pack("total_cents");
  pk.pack(1250);
  return std::string(buffer.data(), buffer.size());
}

std::string taken_reply(uint32_t msgid) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> pk(buffer);
  pk.pack_array(4);
  pk.pack(1);
  pk.pack(msgid);
  pk.pack_map(2);
  pk.pack("code");
  pk.pack(4);
  pk.pack("seats");
  pk.pack_array(1);
  pk.pack_map(1);
  pk.pack("index");
  pk.pack(3);
  pk.pack_nil();
  return std::string(buffer.data(), buffer.size());
}

TEST(LoadRpcCodec, ParsesTicketsAndConflicts) {
  const std::string bytes = buy_reply(0x10002) + taken_reply(7);
  Reply reply;
  size_t consumed = 0;
  ASSERT_EQ(RpcCodec::parse_reply(bytes.data(), bytes.size(), &reply, &consumed),
            ParseStatus::kReply);
  EXPECT_EQ(reply.tag, 0x10002u);
  EXPECT_EQ(reply.status, ReplyStatus::kOk);
  ASSERT_EQ(reply.ticket_count, 1u);
  EXPECT_EQ(reply.tickets[0].seat_index, 17u);
  EXPECT_EQ(std::string(reply.tickets[0].id.data(), 36), "00000000-0005-8bd7-8000-d836c88f2d65");
  ASSERT_EQ(
      RpcCodec::parse_reply(bytes.data() + consumed, bytes.size() - consumed, &reply, &consumed),
      ParseStatus::kReply);
  EXPECT_EQ(reply.tag, 7u);
  EXPECT_EQ(reply.status, ReplyStatus::kConflict);
  EXPECT_EQ(reply.error_code, kErrorSeatTaken);
  EXPECT_EQ(reply.ticket_count, 0u);
}

TEST(LoadRpcCodec, EveryPrefixNeedsMore) {
  const std::string bytes = buy_reply(5);
  for (size_t size = 0; size < bytes.size(); ++size) {
    Reply reply;
    size_t consumed = 0;
    EXPECT_EQ(RpcCodec::parse_reply(bytes.data(), size, &reply, &consumed), ParseStatus::kNeedMore)
        << size;
  }
}

TEST(LoadRpcCodec, NotAReplyIsBroken) {
  const std::string request("\x94\x00\x01\xa4ping\x80", 9);
  Reply reply;
  size_t consumed = 0;
  EXPECT_EQ(RpcCodec::parse_reply(request.data(), request.size(), &reply, &consumed),
            ParseStatus::kBroken);
  const std::string reserved("\xc1", 1);
  EXPECT_EQ(RpcCodec::parse_reply(reserved.data(), reserved.size(), &reply, &consumed),
            ParseStatus::kBroken);
}

TEST(LoadRpcCodec, SplitAcrossReads) {
  TargetOptions options;
  options.event = "E";
  options.pipeline_depth = 2;
  RpcCodec codec(options);
  const std::string bytes = taken_reply(1) + buy_reply(2);
  int replies = 0;
  for (char byte : bytes) {  // one byte per read
    auto space = codec.input_space();
    ASSERT_FALSE(space.empty());
    space[0] = byte;
    codec.input_added(1);
    Reply reply;
    ParseStatus status;
    while ((status = codec.next(&reply)) == ParseStatus::kReply) EXPECT_EQ(reply.tag, ++replies);
    ASSERT_EQ(status, ParseStatus::kNeedMore);
  }
  EXPECT_EQ(replies, 2);
}

const char kHttpHold[] =
    "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 102\r\n\r\n"
    "{\"hold\": \"0000000000100078eaf5a79fe6eb1655\", \"seats\": [{\"index\": 4}, {\"index\": 5}],"
    " \"total_cents\": 10}";
const char kHttpTaken[] =
    "HTTP/1.1 409 Conflict\r\ncontent-length: 34\r\n\r\n{\"error\":{\"code\":4,\"seats\":[]}}   ";

TEST(LoadHttpCodec, ParsesInOrderWithTags) {
  ASSERT_EQ(std::string(kHttpHold).substr(std::string(kHttpHold).find("\r\n\r\n") + 4).size(),
            102u);
  TargetOptions options;
  options.event = "E";
  options.pipeline_depth = 2;
  HttpCodec codec(options);
  OutputBuffer out(4096);
  Operation hold;
  hold.kind = OperationKind::kHold;
  hold.seat_count = 2;
  hold.seats[0] = 4;
  hold.seats[1] = 5;
  codec.encode(hold, 11, &out);
  codec.encode(hold, 12, &out);
  const std::string request(out.pending(), out.pending_bytes());
  EXPECT_EQ(request.find("POST /v1/events/E/holds HTTP/1.1\r\n"), 0u);
  EXPECT_NE(request.find("{\"seats\":[4,5],\"ttl_ms\":600000}"), std::string::npos);

  const std::string bytes = std::string(kHttpHold) + kHttpTaken;
  Reply reply;
  size_t fed = 0;
  std::vector<Reply> replies;
  while (fed < bytes.size()) {  // three bytes per read
    auto space = codec.input_space();
    const size_t n = std::min<size_t>(3, bytes.size() - fed);
    std::memcpy(space.data(), bytes.data() + fed, n);
    codec.input_added(n);
    fed += n;
    while (codec.next(&reply) == ParseStatus::kReply) replies.push_back(reply);
  }
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[0].tag, 11u);
  EXPECT_EQ(replies[0].status, ReplyStatus::kOk);
  EXPECT_TRUE(replies[0].has_hold_token);
  EXPECT_EQ(replies[0].seat_count, 2u);
  EXPECT_EQ(replies[0].seats[1], 5u);
  EXPECT_EQ(replies[1].tag, 12u);
  EXPECT_EQ(replies[1].status, ReplyStatus::kConflict);
}

// BUSY says when to come back (retry_after_ms; over HTTP, Retry-After in seconds): the worker
// rests the slot that long. Other errors say nothing.
TEST(LoadRpcCodec, BusyCarriesRetryAfter) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> pk(buffer);
  pk.pack_array(4);
  pk.pack(1);
  pk.pack(3);
  pk.pack_map(4);
  pk.pack("code");
  pk.pack(kErrorBusy);
  pk.pack("name");
  pk.pack("BUSY");
  pk.pack("message");
  pk.pack("queued longer than the server's queue budget (20 ms)");
  pk.pack("retry_after_ms");
  pk.pack(20);
  pk.pack_nil();
  const std::string bytes = std::string(buffer.data(), buffer.size()) + taken_reply(4);
  Reply reply;
  size_t consumed = 0;
  ASSERT_EQ(RpcCodec::parse_reply(bytes.data(), bytes.size(), &reply, &consumed),
            ParseStatus::kReply);
  EXPECT_EQ(reply.status, ReplyStatus::kError);
  EXPECT_EQ(reply.error_code, kErrorBusy);
  EXPECT_EQ(reply.retry_after_ms, 20);
  ASSERT_EQ(
      RpcCodec::parse_reply(bytes.data() + consumed, bytes.size() - consumed, &reply, &consumed),
      ParseStatus::kReply);
  EXPECT_EQ(reply.retry_after_ms, -1);
}

TEST(LoadHttpCodec, BusyCarriesRetryAfter) {
  const std::string body = "{\"error\":{\"code\":9,\"name\":\"BUSY\"}}";
  const std::string bytes =
      "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  HttpCodec::Response response;
  ASSERT_EQ(HttpCodec::parse_response(bytes, &response), ParseStatus::kReply);
  Reply reply;
  HttpCodec::interpret(response, OperationKind::kHold, &reply);
  EXPECT_EQ(reply.error_code, kErrorBusy);
  EXPECT_EQ(reply.retry_after_ms, 2000);
}

TEST(LoadCodecs, RetryAfterIsCappedWhateverTheServerSays) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> pk(buffer);
  pk.pack_array(4);
  pk.pack(1);
  pk.pack(3);
  pk.pack_map(2);
  pk.pack("code");
  pk.pack(kErrorBusy);
  pk.pack("retry_after_ms");
  pk.pack(UINT64_MAX);
  pk.pack_nil();
  Reply reply;
  size_t consumed = 0;
  ASSERT_EQ(RpcCodec::parse_reply(buffer.data(), buffer.size(), &reply, &consumed),
            ParseStatus::kReply);
  EXPECT_EQ(reply.retry_after_ms, kRetryAfterMsMax);

  const std::string body = "{\"error\":{\"code\":9}}";
  const std::string bytes =
      "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 9223372036854775807\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  HttpCodec::Response response;
  ASSERT_EQ(HttpCodec::parse_response(bytes, &response), ParseStatus::kReply);
  HttpCodec::interpret(response, OperationKind::kHold, &reply);
  EXPECT_EQ(reply.retry_after_ms, kRetryAfterMsMax);
}

TEST(LoadHttpCodec, ChunkedOrGarbageIsBroken) {
  HttpCodec::Response response;
  EXPECT_EQ(
      HttpCodec::parse_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", &response),
      ParseStatus::kBroken);
  EXPECT_EQ(HttpCodec::parse_response("SSH-2.0-OpenSSH\r\n\r\n", &response), ParseStatus::kBroken);
  EXPECT_EQ(HttpCodec::parse_response("HTTP/1.1 200 OK\r\nContent-Le", &response),
            ParseStatus::kNeedMore);
}

TEST(LoadSchedule, FixedIntervalsWithoutDrift) {
  OpenLoopSchedule schedule(1'000, 3.0);  // every 333,333,333.3 ns
  EXPECT_TRUE(schedule.due(1'000));
  EXPECT_FALSE(schedule.due(999));
  for (int i = 0; i < 3'000; ++i) schedule.advance();
  EXPECT_EQ(schedule.next_ns(), 1'000 + 1'000'000'000'000);  // exactly 1,000 s later
  EXPECT_EQ(schedule.backlog(1'000 + 1'000'000'000'000 + 700'000'000), 3u);
}

TEST(LoadSharedSeats, NextNotTakenWrapsAndEnds) {
  SharedSeats seats(130);
  EXPECT_EQ(seats.next_not_taken(0), 0u);
  for (uint32_t i = 0; i < 130; ++i) {
    if (i != 5) seats.mark_taken(i);
  }
  seats.mark_taken(7);  // twice: counted once
  EXPECT_EQ(seats.taken_count(), 129u);
  EXPECT_EQ(seats.next_not_taken(100), 5u);  // wrapped past the end
  EXPECT_EQ(seats.next_not_taken(5), 5u);
  seats.mark_taken(5);
  EXPECT_TRUE(seats.all_taken());
  EXPECT_EQ(seats.next_not_taken(3), 130u);
}

}  // namespace
}  // namespace boxoffice::load
