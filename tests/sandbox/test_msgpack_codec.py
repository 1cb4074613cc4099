"""The zygote's native msgpack codec against msgspec, its reference: same bytes out, same values in, and every
input outside the fast subset refused with a clear error instead of a wrong answer. Also the breadth-first decode
(payload_decode) of the payloads the zygote caches: the same values, laid out so that a scan over one field of
every record touches few pages."""

from __future__ import annotations

import datetime
import enum
import math
import struct

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eigenfast import _ext

C = _ext.require_group("sandbox")
if C is None:
    pytest.skip(f"C++ sandbox not built: {_ext.status().reason}", allow_module_level=True)

encode = msgspec.msgpack.encode
decode = msgspec.msgpack.Decoder().decode

INT_BOUNDARIES = [
    -(2**63), -(2**63) + 1, -(2**31) - 1, -(2**31), -32769, -32768, -129, -128, -33, -32, -1, 0, 1, 127, 128,
    255, 256, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1,
]
FLOATS = [0.0, -0.0, 1.5, -2.25, 1e300, 5e-324, math.inf, -math.inf, math.nan]
LENGTHS = [0, 1, 15, 16, 31, 32, 255, 256, 65535, 65536]


def same(a: object, b: object) -> bool:
    """Equal values of identical types all the way down; NaN equals NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


def check_against_msgspec(value: object) -> None:
    data = C.msgpack_pack(value)
    assert data == encode(value)
    assert same(C.msgpack_unpack(data), decode(data))


scalars = (
    st.none()
    | st.booleans()
    | st.sampled_from(INT_BOUNDARIES)
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(FLOATS)
    | st.text()
    | st.binary()
)
keys = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text() | st.binary() | st.tuples(
    st.integers(-5, 5), st.text(max_size=3)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=6)
    | st.tuples(inner, inner)
    | st.dictionaries(keys, inner, max_size=6)
    | st.binary().map(bytearray),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(values)
def test_random_values_match_msgspec(value):
    check_against_msgspec(value)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40) | values.map(lambda v: encode(v)[:-1]) | st.binary(max_size=8).map(lambda b: b"\x92" + b))
def test_arbitrary_bytes_decode_like_msgspec_or_are_refused(data):
    """Untrusted bytes: msgspec's value, or an error wherever msgspec errs; 'unsupported' (ext, depth) is allowed
    either way because the caller then asks msgspec."""
    try:
        expected = decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError):
        with pytest.raises(ValueError, match="malformed msgpack|codec can't decode|unsupported msgpack"):
            C.msgpack_unpack(data)
        return
    try:
        got = C.msgpack_unpack(data)
    except ValueError as exc:
        assert str(exc).startswith("unsupported msgpack")
        return
    assert same(got, expected)


@pytest.mark.parametrize("value", INT_BOUNDARIES + FLOATS + [None, True, False])
def test_scalar_boundaries(value):
    check_against_msgspec(value)


@pytest.mark.parametrize("n", LENGTHS)
def test_length_boundaries(n):
    for value in ("x" * n, "é" * n, b"\x00" * n, bytearray(b"y" * n), [1] * n, (None,) * n, dict.fromkeys(range(n), 0)):
        check_against_msgspec(value)


def test_list_round_trip_and_types():
    value = {"a": [1, (2.5, b"b")], 7: bytearray(b"c"), (1, "k"): None}
    got = C.msgpack_unpack(C.msgpack_pack(value))
    assert same(got, {"a": [1, [2.5, b"b"]], 7: b"c", (1, "k"): None})


INT_FORMATS = [(0xCC, ">B"), (0xCD, ">H"), (0xCE, ">I"), (0xCF, ">Q"), (0xD0, ">b"), (0xD1, ">h"), (0xD2, ">i"),
               (0xD3, ">q")]


@pytest.mark.parametrize(("code", "fmt"), INT_FORMATS)
def test_every_int_width_decodes(code, fmt):
    bits = struct.calcsize(fmt) * 8
    lo, hi = (0, 2**bits - 1) if fmt[1].isupper() else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    for v in (lo, hi, 0, 1, hi // 3):  # includes non-minimal encodings of small values
        data = bytes([code]) + struct.pack(fmt, v)
        assert same(C.msgpack_unpack(data), decode(data))
        assert C.msgpack_unpack(data) == v


@pytest.mark.parametrize("x", [1.5, 1.1, -0.0, 3.4e38, 1e-45, math.inf, -math.inf, math.nan])
def test_float32_decodes_like_msgspec(x):
    data = b"\xca" + struct.pack(">f", x)
    assert same(C.msgpack_unpack(data), decode(data))
    assert same(C.msgpack_unpack(data), struct.unpack(">f", struct.pack(">f", x))[0])


@pytest.mark.parametrize(
    "data",
    [
        b"\xdb\x00\x00\x00\x02hi",  # str32 for a short string
        b"\xd9\x00",
        b"\xc6\x00\x00\x00\x01z",  # bin32
        b"\xdd\x00\x00\x00\x01\x01",  # array32 of one
        b"\xdf\x00\x00\x00\x01\xa1k\xc0",  # map32 of one
        b"\xde\x00\x02\x01\x02\x01\x03",  # duplicate keys: the last wins
        b"\x81\x91\x91\x01\x02",  # an array key decodes to a (nested) tuple
        b"\x81\xc4\x01x\x01",  # a bin key decodes to bytes
        b"\xa3\xe2\x82\xac",
    ],
)
def test_hand_built_input_decodes_like_msgspec(data):
    assert same(C.msgpack_unpack(data), decode(data))


def test_unpack_takes_any_contiguous_buffer():
    data = encode({"a": [1, 2]})
    assert C.msgpack_unpack(bytearray(data)) == C.msgpack_unpack(memoryview(data)) == {"a": [1, 2]}


@pytest.mark.parametrize(
    "value", [{"k": [1, 2**40, "text", b"bin"]}, "é" * 40, [1.5, None, True], b"x" * 300, -(2**63), {"a": {}}]
)
def test_every_truncation_is_a_value_error_naming_the_offset(value):
    data = encode(value)
    for cut in range(len(data)):
        with pytest.raises(ValueError, match=r"truncated input at offset \d+"):
            C.msgpack_unpack(data[:cut])
        with pytest.raises(msgspec.DecodeError):
            decode(data[:cut])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xc1", "reserved byte 0xc1 at offset 0"),
        (b"\x92\x01\xc1", "reserved byte 0xc1 at offset 2"),
        (b"\x01\x02", "trailing bytes at offset 1"),
        (b"\x91\x01\x90", "trailing bytes at offset 2"),
        (b"\xdd\xff\xff\xff\xff" + b"\x00" * 5, "truncated input at offset 0"),  # 2**32 items in 10 bytes
        (b"\xdf\xff\xff\xff\xff" + b"\x00" * 5, "truncated input at offset 0"),
        (b"\x91\xdb\xff\xff\xff\xff\x00", "truncated input at offset 1"),
        (b"\xc6\xff\xff\xff\xff\x00", "truncated input at offset 0"),
        (b"\x82\x01\x02\x03", "truncated input at offset 0"),  # 2 entries need 4 bytes
        (b"\x81\x80\x01", "unhashable map key at offset 1"),
        (b"\x81\x91\x80\x01", "unhashable map key at offset 1"),
        (b"", "truncated input at offset 0"),
    ],
)
def test_malformed_input_is_a_value_error(data, message):
    with pytest.raises(ValueError, match=message):
        C.msgpack_unpack(data)
    with pytest.raises(msgspec.DecodeError):
        decode(data)


def test_invalid_utf8_raises_like_msgspec():
    for data in (b"\xa2\xff\xfe", b"\xa3\xed\xa0\x80"):  # a bad start byte; an encoded surrogate
        with pytest.raises(UnicodeDecodeError):
            C.msgpack_unpack(data)
        with pytest.raises(UnicodeDecodeError):
            decode(data)


EXTS = [
    b"\xd4\x01\x00", b"\xd5\x01" + b"\x00" * 2, b"\xd6\x01" + b"\x00" * 4, b"\xd7\x01" + b"\x00" * 8,
    b"\xd8\x01" + b"\x00" * 16, b"\xc7\x01\x05\x00", b"\xc8\x00\x01\x05\x00", b"\xc9\x00\x00\x00\x01\x05\x00",
    encode(msgspec.msgpack.Ext(3, b"abc")),
    encode(datetime.datetime(2024, 5, 1, tzinfo=datetime.timezone.utc)),  # timestamp ext -1
    encode(datetime.datetime(2500, 5, 1, 0, 0, 0, 7, tzinfo=datetime.timezone.utc)),
]


@pytest.mark.parametrize("ext", EXTS)
def test_ext_is_unsupported(ext):
    decode(ext)  # msgspec accepts it, so the caller can fall back
    with pytest.raises(ValueError, match="unsupported msgpack ext type at offset 0"):
        C.msgpack_unpack(ext)
    with pytest.raises(ValueError, match="unsupported msgpack ext type at offset 5"):
        C.msgpack_unpack(b"\x81\xa1k\x92\x01" + ext)


def nested_lists(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_depth_limit():
    check_against_msgspec(nested_lists(256))
    with pytest.raises(TypeError, match="unsupported type list .nested deeper than 256"):
        C.msgpack_pack(nested_lists(300))
    deep = b"\x91" * 299 + b"\x90"
    assert same(decode(deep), nested_lists(300))
    with pytest.raises(ValueError, match="unsupported msgpack nesting deeper than 256 containers at offset 256"):
        C.msgpack_unpack(deep)


class Color(enum.IntEnum):
    RED = 1


class Name(str):
    pass


class Table(dict):
    pass


class Point(msgspec.Struct):
    x: int


def self_containing() -> list:
    value: list = []
    value.append(value)
    return value


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ({1, 2}, "set"),
        (frozenset(), "frozenset"),
        (datetime.datetime(2024, 1, 1), "datetime.datetime"),
        (Color.RED, "Color"),
        (Name("x"), "Name"),
        (Table(), "Table"),
        (Point(1), "Point"),
        (memoryview(b"x"), "memoryview"),
        (2**64, r"int \(outside the int64/uint64 range\)"),
        (-(2**63) - 1, r"int \(outside the int64/uint64 range\)"),
        ({"k": [1, {2}]}, "set"),
        ({frozenset(): 1}, "frozenset"),
        (self_containing(), r"list \(nested deeper than 256"),
    ],
)
def test_unsupported_pack_types_raise_type_error(value, name):
    with pytest.raises(TypeError, match=f"unsupported type {name}"):
        C.msgpack_pack(value)


def test_lone_surrogate_raises_like_msgspec():
    for pack in (C.msgpack_pack, encode):
        with pytest.raises(UnicodeEncodeError):
            pack(["ok", "\ud800"])


def test_repeated_map_keys_share_one_object_in_big_inputs():
    """Like msgspec's key cache: a decoded DB holds each field name once, not once per record."""
    records = [{"reservation_id": f"R{i}", "flight_number": "HAT001", "a" * 40: i} for i in range(500)]
    data = msgspec.msgpack.encode(records)
    got = C.msgpack_unpack(data)
    assert got == msgspec.msgpack.decode(data)
    first, last = (list(r) for r in (got[0], got[-1]))
    assert first[0] is last[0] and first[1] is last[1]
    assert first[2] == last[2] and first[2] is not last[2]  # keys over 32 bytes are not cached
    assert got[0]["flight_number"] is not got[1]["flight_number"]  # values never are


def has_tuple_key(value: object) -> bool:
    if isinstance(value, dict):
        return any(isinstance(k, tuple) or has_tuple_key(v) for k, v in value.items())
    return isinstance(value, (list, tuple)) and any(has_tuple_key(v) for v in value)


@settings(max_examples=300, deadline=None)
@given(values)
def test_laid_out_decode_matches_msgspec(value):
    data = encode(value)
    if has_tuple_key(value):  # container keys are left to unpack
        with pytest.raises(ValueError, match="not laid out"):
            C.payload_decode(data)
        return
    got = C.payload_decode(data)
    assert same(got, decode(data))
    assert encode(got) == data  # key order and int/float/bool kinds included


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40) | values.map(lambda v: encode(v)[:-1]) | st.binary(max_size=8).map(lambda b: b"\x92" + b))
def test_laid_out_decode_of_arbitrary_bytes_is_msgspecs_value_or_an_error(data):
    try:
        got = C.payload_decode(data)
    except ValueError:
        return  # the zygote then asks unpack, which reports the case itself
    assert same(got, decode(data))


def test_laid_out_decode_refuses_what_unpack_reports():
    for data in [encode([1, 2])[:-1], b"\xc1", encode(1) + b"\x00", encode({"a": msgspec.msgpack.Ext(1, b"x")}),
                 encode(nested_lists(300))]:
        with pytest.raises(ValueError):
            C.payload_decode(data)


def test_laid_out_decode_leaves_deep_documents_to_unpack():
    """Every level skips over the encodings below it again; a document whose size times depth is too much to
    rescan is refused (the zygote then decodes it with unpack, in one pass)."""
    shallow, deep = list(range(2000)), list(range(2000))
    for _ in range(60):
        deep = [deep, list(range(2000))]
    for _ in range(3):
        shallow = [shallow, list(range(2000))]
    assert C.payload_decode(encode(shallow)) == shallow
    with pytest.raises(ValueError, match="not laid out"):
        C.payload_decode(encode(deep))
    assert C.msgpack_unpack(encode(deep)) == deep


def test_laid_out_decode_shares_equal_leaves_and_keeps_nan_keys_apart():
    value = {"a": [["xxx", 1000, 1.5, b"b", 2**64 - 1, True, None]], "b": {"c": "xxx", "d": [1000, "xxx", 1.5]}}
    got = C.payload_decode(encode(value))
    assert same(got, value)
    strs = [got["a"][0][0], got["b"]["c"], got["b"]["d"][1]]
    assert all(s is strs[0] for s in strs)
    assert got["a"][0][1] is got["b"]["d"][0]  # ints beyond the small-int cache shared too
    assert got["a"][0][2] is not got["b"]["d"][2]  # floats are not: two NaN keys must stay two keys
    nan_keys = b"\x82\xcb" + struct.pack(">d", math.nan) + b"\x01\xcb" + struct.pack(">d", math.nan) + b"\x02"
    assert len(C.payload_decode(nan_keys)) == len(decode(nan_keys)) == 2
    for leaf in (None, 7, "s", 2.5):
        assert C.payload_decode(encode(leaf)) == leaf


def pages(objects) -> int:
    return len({id(o) >> 12 for o in objects})


def test_laid_out_decode_groups_each_field_of_a_collection():
    """The airline-like scan `r['passengers'] for r in reservations` visits one page per ~60 records, not one
    per record as in depth-first order, which interleaves every record's nested objects."""
    n = 3000
    db = {"reservations": {f"R{i:05d}": {"user_id": f"user_{i % 500}", "created_at": f"2024-05-{i % 28:02d}T{i}",
                                         "flights": [{"flight_number": f"HAT{i % 300:03d}", "price": 100 + i}],
                                         "passengers": [{"first_name": f"F{i}", "dob": "1990-01-01"}],
                                         "payments": [{"payment_id": f"card_{i}", "amount": 1000 + i}],
                                         "status": "ok" if i % 3 else None}
                           for i in range(n)}}
    data = encode(db)
    decoded = C.msgpack_unpack(data)
    laid = C.payload_decode(data)
    assert laid == db

    def visited(d):
        rs = list(d["reservations"].values())
        return rs + [r["passengers"] for r in rs] + [r["user_id"] for r in rs]

    ideal = 2 * n * 64 // 4096 + 500 * 64 // 4096  # headers packed 64 to a page, 500 distinct user ids
    assert pages(visited(laid)) <= 2 * ideal
    assert pages(visited(decoded)) >= 4 * pages(visited(laid))
    assert len({id(r["user_id"]) for r in laid["reservations"].values()}) == 500
