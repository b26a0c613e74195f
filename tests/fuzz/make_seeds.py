#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets (README.md here) into corpus/<target>/.

Each seed is a well-formed input of the target's format (see the header comment of each
<target>.cc) or a hand-made hostile one: msgpack headers claiming 2^32-1 items over a short
body, nesting 100k deep, ext types, every param of the wrong type, truncated frames; HTTP
numbers that overflow, deep JSON, invalid UTF-8 and odd percent-encoding; journal segments with
torn tails, flipped bytes, bad CRCs, huge lengths and overlapping segments.

Deterministic: rerunning rewrites the same files. Needs python3-msgpack (/usr/bin/python3).
Usage: tests/fuzz/make_seeds.py   (seeds found by fuzzing go elsewhere; see run.sh)
"""
import json
import os
import struct

import msgpack

HERE = os.path.dirname(os.path.abspath(__file__))
LAYOUTS = os.path.join(HERE, "..", "..", "layouts")
CORPUS = os.path.join(HERE, "corpus")


def write(target, name, data):
    directory = os.path.join(CORPUS, target)
    os.makedirs(directory, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def layout(name):
    with open(os.path.join(LAYOUTS, name)) as f:
        return json.load(f)


def pack(value):
    return msgpack.packb(value, use_bin_type=True)


# ------------------------------------------------------------------------------------------
# rpc_fuzz: one options byte (bit 0: API keys configured), then the bytes of a connection.

def rpc_seeds():
    def req(msgid, method, params):
        return pack([0, msgid, method, params])

    def seed(name, *frames, keys=False):
        write("rpc_fuzz", name, bytes([1 if keys else 0]) + b"".join(frames))

    seat = {"zone": 1, "row": "A", "seat": "1"}
    seed("ping", req(1, "ping", {}))
    seed("event_queries", req(1, "event.get", {"event": "Cinema", "layout": True}),
         req(2, "event.list", {}), req(3, "event.stats", {"event": "Cinema"}),
         req(4, "availability", {"event": "Cinema", "zone": 1, "bitmap": True}),
         req(5, "availability", {"event": "Cinema"}))
    seed("hold_confirm_void", req(1, "hold", {"event": "Cinema", "seats": [seat, 1], "ttl_ms": 60000}),
         req(2, "hold.extend", {"hold": "$hold", "ttl_ms": 120000}),
         req(3, "hold.confirm", {"hold": "$hold", "idempotency_key": "k1", "buyer": "alice"}),
         req(4, "hold.confirm", {"hold": "$hold", "idempotency_key": "k1"}),
         req(5, "ticket.get", {"ticket": "$ticket"}), req(6, "ticket.void", {"ticket": "$ticket"}),
         req(7, "ticket.void", {"ticket": "$ticket"}))
    seed("hold_best_release", req(1, "hold.best", {"event": "Cinema", "zone": 1, "count": 4}),
         req(2, "hold.release", {"hold": "$hold"}), req(3, "hold.release", {"hold": "$hold"}))
    seed("buy_and_seat", req(1, "buy", {"event": "Cinema", "seats": [5, 6], "idempotency_key": "b"}),
         req(2, "buy", {"event": "Cinema", "seats": [6]}),
         req(3, "seat.get", {"event": "Cinema", "seat": 6}),
         req(4, "seat.get", {"event": "Cinema", "seat": {"zone": 3, "row": "L", "seat": "2B"}}))
    seed("event_create", req(1, "event.create", {"id": "Arena", "layout": layout("arena.json")}),
         req(2, "hold.best", {"event": "Arena", "zone": 100, "count": 8}),
         req(3, "event.create", {"id": "Arena", "layout": layout("arena.json")}))
    seed("subscribe", req(1, "subscribe", {"event": "Cinema"}), req(2, "ping", {}))
    seed("auth_sell", req(1, "hold", {"event": "Cinema", "seats": [1]}),
         req(2, "auth", {"key": "sell-key"}), req(3, "hold", {"event": "Cinema", "seats": [1]}),
         req(4, "event.create", {"id": "E2", "layout": layout("cinema.json")}), keys=True)
    seed("auth_admin", req(1, "auth", {"key": "admin-key"}),
         req(2, "event.create", {"id": "E2", "layout": layout("cinema.json")}),
         req(3, "auth", {"key": "wrong"}), req(4, "ping", {}), keys=True)
    seed("limits", req(1, "hold", {"event": "Cinema", "seats": list(range(40))}),
         req(2, "hold", {"event": "Cinema", "seats": [1], "ttl_ms": 1 << 40}),
         req(3, "hold.best", {"event": "Cinema", "zone": 1, "count": 1 << 31}),
         req(4, "hold", {"event": "Cinema", "seats": [4294967295]}))

    # Wrong types everywhere.
    seed("wrong_types",
         pack([0, "1", "ping", {}]), pack([0, -1, "ping", {}]), pack([0, 1.5, "ping", {}]),
         pack([0, 1 << 32, "ping", {}]), pack([0, 1, 7, {}]), pack([0, 1, "ping", []]),
         pack([0, 1, "ping", None]), pack([1, 1, "ping", {}]), pack([2, "ping", {}]),
         pack([0, 1, "ping"]), pack([0, 1, "ping", {}, 5]), pack({"a": 1}), pack("ping"),
         pack([0, 1, b"ping", {}]), pack([0, 1, "nope", {}]),
         req(2, "hold", {"event": 5, "seats": {"a": 1}}), req(3, "hold", {"event": "Cinema", "seats": 7}),
         req(4, "hold", {"event": "Cinema", "seats": [-1, "2", 1.5, None, [1], {"zone": "1"}]}),
         req(5, "hold.best", {"event": "Cinema", "zone": "1", "count": -3}),
         req(6, "hold.best", {"event": "Cinema", "zone": 18446744073709551615, "count": 2}),
         req(7, "hold", {"event": "Cinema", "seats": [{"zone": 1, "row": 5, "seat": 1}]}),
         req(8, "seat.get", {"event": "Cinema", "seat": [1, 2]}),
         req(9, "event.get", {"event": "Cinema", "layout": "yes"}),
         req(10, "hold", {"event": b"Cinema", "seats": [1], "ttl_ms": -5}),
         req(11, "event.create", {"id": "X", "layout": [1, 2]}),
         req(12, "event.create", {"id": "X", "layout": {"venue": 1, "zones": {}}}),
         req(13, "hold", {1: 2, None: 3, "event": "Cinema", "seats": [0]}),
         req(14, "event.create", {"id": "Y", "layout": {"venue": "V", "zones": [
             {"id": 1, "name": "Z", "price_cents": 1, "capacity": 2 ** 31 - 1}]}}))

    # Hostile headers: str32 / bin32 / array32 / map32 claiming 2^32-1 over a short body.
    head = bytes([0x94, 0x00, 0x01])
    seed("str32_huge_method", head + b"\xdb\xff\xff\xff\xffping")
    seed("bin32_huge_param", head + b"\xa4ping" + b"\x81\xa5event\xc6\xff\xff\xff\xffabc")
    seed("array32_huge_top", b"\xdd\xff\xff\xff\xff\x00\x01")
    seed("array32_huge_seats", head + b"\xa4hold" + b"\x82\xa5event\xa6Cinema\xa5seats\xdd\xff\xff\xff\xff\x01\x02")
    seed("map32_huge_params", head + b"\xa4ping\xdf\xff\xff\xff\xff\xa1a\x01")
    seed("map32_huge_layout", head + b"\xacevent.create" +
         b"\x82\xa2id\xa1E\xa6layout\xdf\xff\xff\xff\xff\xa5venue\xa1V")
    seed("str32_huge_in_layout", head + b"\xacevent.create" +
         b"\x82\xa2id\xa1E\xa6layout\x81\xa5venue\xdb\xff\xff\xff\xffV")
    seed("depth_100k_arrays", b"\x91" * 100000 + b"\x00")
    seed("depth_100k_maps", b"\x81\xa1a" * 100000 + b"\x00")
    seed("depth_100k_in_params", head + b"\xa4ping\x81\xa1x" + b"\x91" * 100000 + b"\xc0")
    seed("depth_17", req(1, "ping", {"x": [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}))
    # Ext types: fixext 1/2/4/8/16, ext 8/16/32 (the last claiming 2^32-1 bytes).
    exts = [b"\xd4\x01\x00", b"\xd5\x02\x00\x00", b"\xd6\xff" + b"\x00" * 4, b"\xd7\x05" + b"\x00" * 8,
            b"\xd8\x06" + b"\x00" * 16, b"\xc7\x03\x07abc", b"\xc8\x00\x03\x07abc"]
    for i, ext in enumerate(exts):
        seed("ext_%d" % i, head + b"\xa4hold\x82\xa5event" + ext + b"\xa5seats\x91" + ext)
    seed("ext32_huge", head + b"\xa4ping\x81\xa1x\xc9\xff\xff\xff\xff\x01abc")
    seed("ext_in_layout", head + b"\xacevent.create\x82\xa2id\xa1E\xa6layout\x81\xa5venue\xd4\x01\x00")
    seed("reserved_c1", head + b"\xa4ping\xc1")
    seed("never_used_types", b"\xc1\xc1\xc1")
    seed("floats", req(1, "hold.best", {"event": "Cinema", "zone": 1.0, "count": float("nan")}))
    # Truncated frames: a valid pipelined stream cut at many points.
    stream = req(1, "hold", {"event": "Cinema", "seats": [seat, 3]}) + req(2, "hold.confirm", {"hold": "$hold"})
    for cut in (1, 2, 5, 9, 17, 30, len(stream) - 20, len(stream) - 1):
        seed("truncated_%d" % cut, stream[:cut])
    seed("garbage_after_frame", req(1, "ping", {}) + b"\xff\xff\xc1\x00")
    seed("many_pings", b"".join(req(i, "ping", {}) for i in range(100)))


# ------------------------------------------------------------------------------------------
# http_fuzz: requests separated by "\n%%\n": METHOD TARGET / Authorization / Idempotency-Key / body.

def http_seeds():
    def r(method_target, body="", auth="", key=""):
        return "%s\n%s\n%s\n%s" % (method_target, auth, key, body)

    def seed(name, *requests):
        write("http_fuzz", name, "\n%%\n".join(requests))

    cinema = json.dumps({"id": "Cinema2", "layout": layout("cinema.json")})
    seed("v1_reads", r("GET /v1/ping"), r("GET /v1/events"), r("GET /v1/events/Cinema?layout=true"),
         r("HEAD /v1/events/Cinema/stats"), r("GET /v1/events/Cinema/availability?zone=1&bitmap=1"),
         r("GET /v1/events/Cinema/seats/5"), r("GET /v1/events/Cinema/seats?zone=1&row=A&seat=1"),
         r("GET /v1/events/Cinema/seats?zone=3&row=L&seat=2B"))
    seed("v1_hold_confirm_void",
         r("POST /v1/events/Cinema/holds", '{"seats": [1, {"zone": 1, "row": "B", "seat": "3"}], "ttl_ms": 60000}'),
         r("POST /v1/holds/$hold/extend", '{"ttl_ms": 90000}'),
         r("POST /v1/holds/$hold/confirm", '{"buyer": "bob"}', key="idem-1"),
         r("POST /v1/holds/$hold/confirm", "", key="idem-1"),
         r("GET /v1/tickets/$ticket"), r("POST /v1/tickets/$ticket/void"), r("POST /v1/tickets/$ticket/void"))
    seed("v1_best_release", r("POST /v1/events/Cinema/holds/best", '{"zone": 2, "count": 3}'),
         r("DELETE /v1/holds/$hold"), r("DELETE /v1/holds/$hold"))
    seed("v1_buy", r("POST /v1/events/Cinema/tickets", '{"seats": [7], "idempotency_key": "x"}'),
         r("POST /v1/events/Cinema/tickets", '{"seats": [7]}'))
    seed("v1_create", r("POST /v1/events", cinema), r("GET /v1/events/Cinema2"), r("POST /v1/events", cinema))
    seed("v1_wrong_methods", r("PUT /v1/events"), r("DELETE /v1/ping"), r("BREW /v1/events/Cinema"),
         r(" /v1/ping"), r("GET"), r("GET /v2/ping"), r("GET /"), r("GET //v1//ping//"))
    seed("cqrs_purchase_and_queries",
         r("POST /purchase/api/v1/tickets",
           '{"venueId": "Odeon-Leicester", "eventId": "cinema", "zoneId": 1, "row": "a", "column": "4"}', key="p1"),
         r("POST /purchase/api/v1/tickets",
           '{"venueId": "Odeon-Leicester", "eventId": "Cinema", "zoneId": "1", "row": "A", "column": 4}'),
         r("GET /query/api/v1/tickets"), r("GET /query/api/v1/tickets?page=0&size=1"),
         r("GET /query/api/v1/tickets/$ticket"), r("GET /query/api/v1/tickets/count/Cinema"),
         r("GET /query/api/v1/tickets/revenue/Odeon-Leicester/Cinema"))
    seed("health_ops", r("GET /purchase/health"), r("GET /query/health"), r("GET /events/health"),
         r("GET /query/api/v1/health"), r("GET /health"), r("GET /ready"), r("GET /metrics"))
    seed("auth", r("GET /v1/events", auth="-"), r("GET /v1/events", auth="Bearer wrong"),
         r("POST /v1/events/Cinema/holds", '{"seats": [1]}', auth="Bearer sell-key"),
         r("POST /v1/events", cinema, auth="bearer sell-key"),
         r("POST /v1/events", cinema, auth="BEARER admin-key"), r("GET /purchase/health", auth="-"),
         r("GET /metrics", auth="Bearer"))
    # Numbers: huge, negative, overflowing, fractional, exponent.
    seed("numbers",
         r("POST /v1/events/Cinema/holds", '{"seats": [99999999999999999999999999]}'),
         r("POST /v1/events/Cinema/holds", '{"seats": [-1], "ttl_ms": -9223372036854775809}'),
         r("POST /v1/events/Cinema/holds", '{"seats": [18446744073709551616], "ttl_ms": 1e308}'),
         r("POST /v1/events/Cinema/holds", '{"seats": [1.5, 1e2, -0, 0e0]}'),
         r("POST /v1/events/Cinema/holds/best", '{"zone": 9223372036854775807, "count": 18446744073709551615}'),
         r("POST /v1/events/Cinema/holds/best", '{"zone": -9223372036854775808, "count": 2}'),
         r("GET /v1/events/Cinema/seats/18446744073709551616"), r("GET /v1/events/Cinema/seats/-1"),
         r("GET /v1/events/Cinema/seats/4294967296"), r("GET /v1/events/Cinema/seats/+1"),
         r("GET /v1/events/Cinema/availability?zone=99999999999999999999"),
         r("GET /v1/events/Cinema/availability?zone=-0&bitmap=2"),
         r("GET /query/api/v1/tickets?page=-1"), r("GET /query/api/v1/tickets?page=99999999999999&size=10000"),
         r("GET /query/api/v1/tickets?size=0"), r("GET /query/api/v1/tickets?page=9223372036854775807&size=1"),
         r("POST /purchase/api/v1/tickets",
           '{"venueId": "Odeon-Leicester", "eventId": "Cinema", "zoneId": 99999999999999999999, "row": "A", "column": "1"}'),
         r("POST /purchase/api/v1/tickets",
           '{"venueId": "Odeon-Leicester", "eventId": "Cinema", "zoneId": -1, "row": "A", "column": -1}'))
    seed("deep_json", r("POST /v1/events/Cinema/holds", "[" * 100000 + "]" * 100000),
         r("POST /v1/events/Cinema/holds", '{"a":' * 50000 + "1" + "}" * 50000),
         r("POST /purchase/api/v1/tickets", '{"venueId": [[[[[[1]]]]]]}'),
         r("POST /v1/events", '{"id": "D", "layout": ' + '{"zones": ' * 20 + "1" + "}" * 21))
    # Regression: 1 MiB of '[' took 150 ms (ASan) while the parser walked every level after the
    # depth limit; core/json_document.cc now refuses it by a scan first.
    seed("regression_deep_json_1mib", r("POST /v1/events/Cinema/holds", "[" * ((1 << 20) - 64)))
    seed("bad_json", r("POST /v1/events/Cinema/holds", '{"seats": [1,]}'),
         r("POST /v1/events/Cinema/holds", "[1, 2]"), r("POST /v1/events/Cinema/holds", "null"),
         r("POST /v1/events/Cinema/holds", '{"seats": "1"'), r("POST /v1/events/Cinema/holds", "\x00"),
         r("POST /purchase/api/v1/tickets", ""), r("POST /purchase/api/v1/tickets", "{}"),
         r("POST /v1/events/Cinema/holds", '{"seats": [1], "seats": [2]}'))
    invalid_utf8 = b"\xff\xfe\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80".decode("latin-1")
    seed("invalid_utf8", r("GET /v1/events/" + invalid_utf8), r("GET /v1/events/%FF%FE%C0%AF"),
         r("POST /v1/events/Cinema/holds", '{"seats": [1], "buyer": "' + invalid_utf8 + '"}'),
         r("POST /v1/events/Cinema/tickets", '{"seats": [2]}', key=invalid_utf8),
         r("POST /purchase/api/v1/tickets",
           '{"venueId": "' + invalid_utf8 + '", "eventId": "%FF", "zoneId": 1, "row": "\\ud800", "column": "1"}'),
         r("GET /query/api/v1/tickets/count/%ED%A0%80"), r("GET /v1/events/Cinema?layout=%FF"))
    seed("percent_encoding", r("GET /v1/events/%43inema"), r("GET /v1/events/Cin%"), r("GET /v1/events/Cin%4"),
         r("GET /v1/events/Cin%zz"), r("GET /v1/events/%00"), r("GET /v1/events/Cinema%2Fstats"),
         r("GET /v1/events%2FCinema"), r("GET /v1/events/%2e%2e"), r("GET /v1/events/Cinema?layout=tr%75e"),
         r("GET /v1/events/Cinema/seats?zone=1&row=%41&seat=%31"), r("GET /v1/events/Cinema?%"),
         r("GET /v1/events/Cinema?a=%"), r("GET /v1/events/Cinema?&&&=&="), r("GET /v1/events/Cinema?layout"),
         r("GET /v1/events/Cinema/availability?zone=1&zone=2"), r("GET /v1/events/Cinema?layout=true#frag"),
         r("GET /v1/events/Cinema/seats?zone=1&row=A+B&seat=1%20"), r("GET /v1/events/" + "%41" * 5000),
         r("GET /query/api/v1/tickets/revenue/%4Fdeon-Leicester/cinema"))


# ------------------------------------------------------------------------------------------
# layout_fuzz: a layout document, tried as JSON text and as msgpack.

def layout_seeds():
    for name in ("cinema", "arena", "stadium"):
        document = layout(name + ".json")
        write("layout_fuzz", name + ".json", json.dumps(document))
        write("layout_fuzz", name + ".msgpack", pack(document))
    ga = {"venue": "V", "zones": [{"id": 1, "name": "Floor", "price_cents": 100, "capacity": 10}]}
    numbered = {"venue": "V", "name": "N", "zones": [{"id": 7, "name": "Z", "price_cents": 5,
                                                       "rows": [{"label": "A", "seats": 3, "first": 101}]}]}
    hostile = {
        "ga": ga,
        "numbered_first": numbered,
        "huge_capacity": {"venue": "V", "zones": [{"id": 1, "name": "Z", "price_cents": 1, "capacity": 2 ** 31 - 1}]},
        "capacity_overflow": {"venue": "V", "zones": [{"id": 1, "name": "Z", "price_cents": 1, "capacity": 2 ** 64 - 1}]},
        "negative_price": {"venue": "V", "zones": [{"id": 1, "name": "Z", "price_cents": -1, "capacity": 1}]},
        "huge_price": {"venue": "V", "zones": [{"id": 1, "name": "Z", "price_cents": 2 ** 63 - 1, "capacity": 1}]},
        "both_rows_and_capacity": {"venue": "V", "zones": [{"id": 1, "name": "Z", "price_cents": 1, "capacity": 1,
                                                            "rows": [{"label": "A", "seats": 1}]}]},
        "duplicate_zone_ids": {"venue": "V", "zones": [{"id": 1, "name": "A", "price_cents": 1, "capacity": 1},
                                                       {"id": 1, "name": "B", "price_cents": 1, "capacity": 1}]},
        "duplicate_rows": {"venue": "V", "zones": [{"id": 1, "name": "Z", "price_cents": 1, "rows": [
            {"label": "A", "seats": 2}, {"label": "A", "seats": 2}]}]},
        "duplicate_seat_labels": {"venue": "V", "zones": [{"id": 1, "name": "Z", "price_cents": 1, "rows": [
            {"label": "A", "seats": ["1", "1"]}]}]},
        "numbered_collides_with_first": {"venue": "V", "zones": [{"id": 1, "name": "Z", "price_cents": 1, "rows": [
            {"label": "A", "seats": 1000, "first": 1000000}]}]},
        "label_lookalikes": {"venue": "V", "zones": [{"id": 1, "name": "Z", "price_cents": 1, "rows": [
            {"label": "01", "seats": ["01", "1", "+1", " 1", "1 "]}, {"label": "1", "seats": 2}]}]},
        "unicode_labels": {"venue": "V\u00e9", "zones": [{"id": 1, "name": "\u2603", "price_cents": 1, "rows": [
            {"label": "\u00c5", "seats": ["\U0001F600", "\u0000"]}]}]},
        "too_many_rows": {"venue": "V", "zones": [{"id": 1, "name": "Z", "price_cents": 1,
                                                   "rows": [{"label": str(i), "seats": 1000} for i in range(1001)]}]},
        "a_million_seats": {"venue": "V", "zones": [{"id": i, "name": "Z", "price_cents": 1, "capacity": 1 << 18}
                                                    for i in range(4)]},
        "over_a_million_seats": {"venue": "V", "zones": [{"id": i, "name": "Z", "price_cents": 1, "capacity": 1 << 18}
                                                         for i in range(5)]},
        "zone_id_extremes": {"venue": "V", "zones": [{"id": -(2 ** 63), "name": "Z", "price_cents": 1, "capacity": 1},
                                                     {"id": 2 ** 31, "name": "Y", "price_cents": 1, "capacity": 1}]},
        "floats": {"venue": "V", "zones": [{"id": 1.0, "name": "Z", "price_cents": 1.5, "capacity": 1e3}]},
        "wrong_types": {"venue": 1, "name": [], "zones": {"id": 1}},
        "wrong_types_inside": {"venue": "V", "zones": [1, "z", None, [], {"id": "1", "name": 2, "price_cents": "3",
                                                                           "rows": {"label": 1}}]},
        "unknown_keys": {"venue": "V", "zones": [{"id": 1, "name": "Z", "price": 1, "capacity": 1}], "extra": True},
        "empty": {},
        "empty_strings": {"venue": "", "name": "", "zones": [{"id": 1, "name": "", "price_cents": 0, "rows": [
            {"label": "", "seats": [""]}]}]},
        "long_strings": {"venue": "V" * 65, "name": "N" * 129, "zones": [{"id": 1, "name": "Z" * 200, "price_cents": 1,
                                                                          "rows": [{"label": "L" * 17, "seats": ["S" * 17]}]}]},
    }
    for name, document in hostile.items():
        write("layout_fuzz", name + ".json", json.dumps(document))
        write("layout_fuzz", name + ".msgpack", pack(document))
    write("layout_fuzz", "deep_json_arrays.json", "[" * 100000 + "]" * 100000)
    write("layout_fuzz", "deep_json_objects.json", '{"a":' * 100000 + "1" + "}" * 100000)
    # Many objects in one array: nlohmann's callback parser took time quadratic in them.
    write("layout_fuzz", "rows_at_the_limit.json", json.dumps({"venue": "V", "zones": [
        {"id": 1, "name": "Z", "price_cents": 1,
         "rows": [{"label": str(r), "seats": 1} for r in range(1000)]}]}))
    write("layout_fuzz", "many_objects_in_one_array.json", "[" + ",".join(["{}"] * 20000) + "]")
    write("layout_fuzz", "deep_msgpack.msgpack", b"\x91" * 100000 + b"\x00")
    write("layout_fuzz", "deep_msgpack_maps.msgpack", b"\x81\xa1a" * 100000 + b"\x00")
    write("layout_fuzz", "invalid_utf8.json", b'{"venue": "\xff\xfe", "zones": [{"id": 1, "name": "\xc0\xaf", '
                                              b'"price_cents": 1, "capacity": 1}]}')
    write("layout_fuzz", "invalid_utf8.msgpack", b"\x82\xa5venue\xa2\xff\xfe\xa5zones\x90")
    write("layout_fuzz", "escapes.json", '{"venue": "\\ud800\\udc00\\u0000", "zones": []}')
    write("layout_fuzz", "huge_numbers.json", '{"venue": "V", "zones": [{"id": 1e400, "name": "Z", '
                                              '"price_cents": 123456789012345678901234567890, "capacity": -0}]}')
    write("layout_fuzz", "trailing_garbage.json", json.dumps(ga) + " x")
    write("layout_fuzz", "two_documents.msgpack", pack(ga) + pack(ga))
    write("layout_fuzz", "array32_huge.msgpack", b"\x82\xa5venue\xa1V\xa5zones\xdd\xff\xff\xff\xff\x80")
    write("layout_fuzz", "map32_huge.msgpack", b"\xdf\xff\xff\xff\xff\xa5venue\xa1V")
    write("layout_fuzz", "str32_huge.msgpack", b"\x81\xa5venue\xdb\xff\xff\xff\xffV")
    write("layout_fuzz", "bin32_huge.msgpack", b"\x81\xa5venue\xc6\xff\xff\xff\xffV")
    write("layout_fuzz", "bin_value.msgpack", b"\x81\xa5venue\xc4\x01V")
    write("layout_fuzz", "ext_value.msgpack", b"\x81\xa5venue\xd4\x01\x00")
    write("layout_fuzz", "ext32_huge.msgpack", b"\x81\xa5venue\xc9\xff\xff\xff\xff\x01V")
    write("layout_fuzz", "int_key.msgpack", b"\x81\x01\xa1V")
    write("layout_fuzz", "container_key.msgpack", b"\x81\x91\x01\xa1V")
    write("layout_fuzz", "truncated.msgpack", pack(layout("cinema.json"))[:-7])
    write("layout_fuzz", "truncated.json", json.dumps(layout("cinema.json"))[:-7])
    write("layout_fuzz", "reserved_c1.msgpack", b"\x81\xa5venue\xc1")


# ------------------------------------------------------------------------------------------
# journal_fuzz: options byte (segment count - 1), then per segment u64 first sequence and,
# for all but the last, a u16 byte count.

def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def record(sequence, kind, payload, crc=None):
    body = struct.pack("<QB", sequence, kind) + payload
    return struct.pack("<II", len(payload), crc32c(body) if crc is None else crc) + body


def sale(event=0, seats=((1, 1, 7, 1250),), key=b"k1", buyer=b"alice"):
    out = struct.pack("<IqQBBB", event, 1700000000000, 0x1234, len(key), len(buyer), len(seats)) + key + buyer
    for seat, generation, nonce, price in seats:
        out += struct.pack("<IIQq", seat, generation, nonce, price)
    return out


def void(event=0, seat=1, generation=1, nonce=7):
    return struct.pack("<IIIQq", event, seat, generation, nonce, 1700000001000)


def event_created(index=0, state=2, document=None):
    if document is None:
        document = json.dumps({"id": "Cinema", "layout": layout("cinema.json")}).encode()
    return struct.pack("<IqI", index, 1700000000000, state) + document


def event_state(index=0, state=3):
    return struct.pack("<IIq", index, state, 1700000002000)


def journal_seeds():
    def seed(name, *segments):
        """segments: (first_sequence, bytes) pairs."""
        out = bytes([len(segments) - 1])
        for i, (first, data) in enumerate(segments):
            out += struct.pack("<Q", first)
            if i + 1 < len(segments):
                out += struct.pack("<H", len(data))
            out += data
        write("journal_fuzz", name, out)

    sales = (record(1, 3, sale()) + record(2, 3, sale(seats=((2, 1, 8, 1250), (3, 1, 9, 1250)), key=b""))
             + record(3, 4, void()) + record(4, 5, b""))
    control = record(1, 1, event_created()) + record(2, 2, event_state()) + record(3, 1, event_created(1, 4))
    seed("sales_clean", (1, sales))
    seed("control_clean", (1, control))
    seed("empty_segment", (1, b""))
    seed("segment_named_zero", (0, sales))
    seed("torn_header", (1, sales + record(5, 3, sale())[:10]))
    seed("torn_payload", (1, sales + record(5, 3, sale())[:-3]))
    flipped = bytearray(sales)
    flipped[len(record(1, 3, sale())) + 20] ^= 0x40
    seed("flipped_byte", (1, bytes(flipped)))
    seed("bad_crc", (1, record(1, 3, sale()) + record(2, 4, void(), crc=0xDEADBEEF) + record(3, 4, void())))
    seed("length_2_32_minus_1", (1, record(1, 3, sale()) + b"\xff\xff\xff\xff" + b"\x00" * 13 + b"xyz"))
    seed("length_64mib", (1, record(1, 3, sale()) + struct.pack("<I", 64 << 20) + b"\x00" * 13))
    seed("length_64mib_plus_1", (1, struct.pack("<I", (64 << 20) + 1) + b"\x00" * 20))
    seed("length_over_record_max", (1, record(1, 5, b"\x00" * ((64 << 10) + 1))))
    seed("sequence_gap", (1, record(1, 4, void()) + record(3, 4, void())))
    seed("sequence_repeat", (1, record(1, 4, void()) + record(1, 4, void())))
    seed("name_mismatch", (5, record(1, 4, void()) + record(2, 4, void())))
    seed("two_segments", (1, record(1, 4, void()) + record(2, 4, void())), (3, record(3, 4, void())))
    seed("rewritten_overlap", (1, record(1, 4, void()) + record(2, 4, void()) + record(3, 4, void())[:9]),
         (2, record(2, 3, sale()) + record(3, 4, void())))
    seed("gap_between_segments", (1, record(1, 4, void())), (5, record(5, 4, void())))
    seed("later_segment_torn", (1, record(1, 4, void())), (2, record(2, 4, void())[:5]))
    seed("middle_segment_corrupt", (1, record(1, 4, void())), (2, record(2, 4, void(), crc=1)),
         (3, record(3, 4, void())))
    seed("four_segments_same_name", (1, sales), (1, control), (1, b""), (1, record(1, 5, b"")))
    seed("max_sequence", (0xFFFFFFFFFFFFFFFF, record(0xFFFFFFFFFFFFFFFF, 4, void())))
    seed("sale_fields_over_limits", (1, record(1, 3, sale(key=b"k" * 255, buyer=b"b" * 255))
                                     + record(2, 3, sale(seats=())) + record(3, 3, sale()[:-1])
                                     + record(4, 3, struct.pack("<IqQBBB", 0, 0, 0, 0, 0, 255))))
    seed("bad_records", (1, record(1, 4, void()[:-1]) + record(2, 1, b"\x00" * 15) + record(3, 2, event_state(0, 9))
                         + record(4, 1, event_created(0, 0)) + record(5, 99, b"?") + record(6, 4, void() + b"!")))
    seed("control_out_of_order", (1, record(1, 1, event_created(1)) + record(2, 2, event_state(5))))
    # Regression: each JournalReader zero-filled a 64 MiB buffer for a length no file held.
    seed("regression_huge_lengths", *[(i + 1, struct.pack("<I", 64 << 20) + b"\x00" * 13) for i in range(4)])
    seed("header_only", (1, b"\x00" * 17))
    seed("zeros", (1, b"\x00" * 4096))


# ------------------------------------------------------------------------------------------
# admin_fuzz: lines.

def admin_seeds():
    def seed(name, *lines):
        write("admin_fuzz", name, "\n".join(lines))

    cinema = json.dumps({"id": "Hall", "layout": layout("cinema.json")})
    seed("every_verb", "help", "info", "info server", "INFO Memory", "info persistence", "info stats",
         "info workers", "events", "event Cinema", "event pause Cinema", "event open Cinema", "seat Cinema 5",
         "seat Cinema 1/A/12", "seat Cinema 3/L/2B", "holds Cinema", "persister", "workers", "loglevel DEBUG",
         "drain", "resume", "event close Cinema", "shutdown")
    seed("json_forms", "json help", "json info", "JSON\tevents", "json event Cinema", "json seat Cinema 0",
         "json holds Cinema", "json persister", "json workers", "json drain", "json resume", "json")
    seed("event_create", "event create " + cinema, "event Hall", "seat Hall 3/L/4B", "event create " + cinema,
         "json event create {\"id\": \"X\", \"layout\": {}}")
    seed("event_load", "event load /etc/hostname", "event load", "event load /nonexistent")
    seed("arity", "seat Cinema", "seat Cinema 1 2", "event", "event pause", "event pause A B", "help me",
         "loglevel", "loglevel loud", "info nothing", "holds", "event Cinema extra")
    seed("seats", "seat Cinema -1", "seat Cinema 4294967296", "seat Cinema 18446744073709551616",
         "seat Cinema 1/A/99", "seat Cinema 1//1", "seat Cinema ///", "seat Cinema 9/GA/1", "seat Cinema 1/A/",
         "seat Cinema 99999999999999999999/A/1", "seat Nope 1", "seat Cinema +5", "seat Cinema 0x10")
    seed("whitespace", "   ", "\t", "  help  \r", "json  \t events \r", "", "\r")
    seed("control_bytes", "help\x00", "seat\x01Cinema 1", "events\x7f", "event \x1b[31m")
    seed("invalid_utf8", "event \xff\xfe", "seat \xc0\xaf 1", "holds \xed\xa0\x80",
         "event create {\"id\": \"\xff\", \"layout\": {}}")
    seed("deep_json", "event create " + "[" * 100000 + "]" * 100000)
    seed("long_word", "x" * 100000, "seat " + "C" * 70000 + " 1", "info " + "s" * 17)
    seed("bad_documents", "event create {", "event create null", "event create {\"id\": 1}",
         "event create {\"id\": \"Z\", \"layout\": {\"venue\": \"V\", \"zones\": [{\"id\": 1, \"name\": \"Z\", "
         "\"price_cents\": 1, \"capacity\": 2147483647}]}}")


# ------------------------------------------------------------------------------------------
# Dictionaries (<target>.dict, libFuzzer -dict): the words each format is made of, so that
# mutations reach the methods and fields instead of guessing their spelling.

def write_dict(target, entries):
    def quote(data):
        if isinstance(data, str):
            data = data.encode()
        return '"' + "".join(chr(b) if 0x20 <= b < 0x7F and b not in b'"\\' else "\\x%02x" % b
                             for b in data) + '"'
    with open(os.path.join(HERE, target + ".dict"), "w") as f:
        f.write("# Written by make_seeds.py.\n")
        for entry in entries:
            f.write(quote(entry) + "\n")


METHODS = ["ping", "auth", "event.create", "event.get", "event.list", "event.stats", "hold", "hold.best",
           "hold.extend", "hold.release", "hold.confirm", "buy", "ticket.get", "ticket.void", "seat.get",
           "availability", "subscribe"]
PARAMS = ["event", "hold", "ticket", "idempotency_key", "buyer", "key", "id", "name", "state", "zone", "count",
          "ttl_ms", "layout", "bitmap", "seats", "seat", "row", "$hold", "$ticket", "Cinema", "sell-key",
          "admin-key", "open", "paused", "closed"]
LAYOUT_KEYS = ["venue", "name", "zones", "id", "price_cents", "rows", "capacity", "label", "seats", "first"]


def dictionaries():
    write_dict("rpc_fuzz", [pack(word) for word in METHODS + PARAMS + LAYOUT_KEYS] +
               [b"\x94\x00", b"\xdd\xff\xff\xff\xff", b"\xdf\xff\xff\xff\xff", b"\xdb\xff\xff\xff\xff",
                b"\xc6\xff\xff\xff\xff", b"\xc9\xff\xff\xff\xff", b"\xcf\xff\xff\xff\xff\xff\xff\xff\xff"])
    write_dict("http_fuzz", ["GET ", "POST ", "DELETE ", "HEAD ", "/v1", "/events", "/holds", "/best", "/tickets",
                             "/seats", "/stats", "/availability", "/extend", "/confirm", "/void", "/ping",
                             "/purchase/api/v1/tickets", "/query/api/v1/tickets", "/count/", "/revenue/",
                             "/health", "/ready", "/metrics", "Bearer sell-key", "Bearer admin-key", "\n%%\n",
                             "?zone=", "&row=", "&seat=", "bitmap=true", "layout=true", "page=", "size=", "%",
                             '"venueId"', '"eventId"', '"zoneId"', '"column"', "Odeon-Leicester"] +
               ['"%s"' % word for word in PARAMS + LAYOUT_KEYS])
    write_dict("layout_fuzz", ['"%s"' % word for word in LAYOUT_KEYS] + [pack(word) for word in LAYOUT_KEYS])
    write_dict("admin_fuzz", ["help", "info", "events", "event", "create", "load", "pause", "open", "close", "seat",
                              "holds", "persister", "workers", "loglevel", "drain", "resume", "shutdown", "json ",
                              "server", "memory", "persistence", "stats", "debug", "Cinema", "1/A/1", "3/L/2B"])


def main():
    dictionaries()
    rpc_seeds()
    http_seeds()
    layout_seeds()
    journal_seeds()
    admin_seeds()


if __name__ == "__main__":
    main()
