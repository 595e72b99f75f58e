"""Just enough protobuf wire format for the CRI calls the tests make.

The CRI API (k8s.io/cri-api, package runtime.v1) is protobuf over gRPC.  The
tests need a dozen small messages, so instead of generated code they are
built here from field numbers: a message is a list of (field, value) pairs
with nested messages as lists too, and a response is decoded into a dict of
field -> [values] (raw bytes for length-delimited fields; the caller knows
which of those are nested messages and decodes them again).
"""


def _varint(n):
    if n < 0:
        n += 1 << 64          # int32/int64 negatives are ten-byte varints
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def encode(fields):
    """fields: iterable of (number, value).  value: bool/int (varint), str/bytes
    (length-delimited), list/tuple (nested message), dict (map<string,string>:
    one entry message per key), None (skipped)."""
    out = bytearray()
    for num, val in fields:
        if val is None:
            continue
        if isinstance(val, bool):
            if val:
                out += _varint(num << 3) + _varint(1)
        elif isinstance(val, int):
            if val:
                out += _varint(num << 3) + _varint(val)
        elif isinstance(val, (str, bytes)):
            b = val.encode() if isinstance(val, str) else val
            out += _varint(num << 3 | 2) + _varint(len(b)) + b
        elif isinstance(val, dict):
            for k, v in val.items():
                b = encode([(1, k), (2, v)])
                out += _varint(num << 3 | 2) + _varint(len(b)) + b
        elif isinstance(val, (list, tuple)):
            b = encode(val)
            out += _varint(num << 3 | 2) + _varint(len(b)) + b
        else:
            raise TypeError("cannot encode %r" % (val,))
    return bytes(out)


def _read_varint(buf, i):
    n = shift = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i
        if shift > 63:
            raise ValueError("varint too long")


def decode(buf):
    """-> {field: [value, ...]}; varints as int, length-delimited as bytes."""
    out = {}
    i = 0
    while i < len(buf):
        key, i = _read_varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, i = _read_varint(buf, i)
        elif wt == 2:
            n, i = _read_varint(buf, i)
            if i + n > len(buf):
                raise ValueError("truncated field %d" % num)
            val, i = bytes(buf[i:i + n]), i + n
        elif wt == 1:
            val, i = bytes(buf[i:i + 8]), i + 8
        elif wt == 5:
            val, i = bytes(buf[i:i + 4]), i + 4
        else:
            raise ValueError("unsupported wire type %d" % wt)
        out.setdefault(num, []).append(val)
    return out


def first(msg, num, default=None):
    v = msg.get(num)
    return v[0] if v else default


def string(msg, num):
    v = first(msg, num, b"")
    return v.decode("utf-8", "replace")
