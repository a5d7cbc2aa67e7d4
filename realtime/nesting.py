"""A bound on how deeply a client frame nests, checked before decoding (the decoders recurse)."""

from __future__ import annotations

import re

MAX_DEPTH = 32  # the deepest command today (publish > data > selectors > position) is ~6

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_BRACKETS = re.compile(r"[\[\]{}]")
# msgpack bytes that may start a map or an array (fixmap, fixarray, array16/32, map16/32)
_CONTAINERS = bytes([*range(0x80, 0xA0), *range(0xDC, 0xE0)])
_OTHERS = bytes(b for b in range(256) if b not in _CONTAINERS)
# msgpack: fixed payload sizes after the first byte, for the scalar types
_FIXED = {0xC0: 0, 0xC2: 0, 0xC3: 0, 0xCA: 4, 0xCB: 8, 0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8,
          0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8, 0xD4: 2, 0xD5: 3, 0xD6: 5, 0xD7: 9, 0xD8: 17}
# msgpack: (bytes of the length, extra bytes) for str/bin/ext with a length field
_SIZED = {0xC4: (1, 0), 0xC5: (2, 0), 0xC6: (4, 0), 0xD9: (1, 0), 0xDA: (2, 0), 0xDB: (4, 0),
          0xC7: (1, 1), 0xC8: (2, 1), 0xC9: (4, 1)}


def json_depth_ok(data: str | bytes, limit: int = MAX_DEPTH) -> bool:
    """False when a JSON text nests arrays/objects more than `limit` deep."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    if text.count("[") + text.count("{") <= limit:
        return True
    depth = 0
    for m in _JSON_BRACKETS.finditer(_JSON_STRING.sub("", text)):
        if m.group() in "[{":
            depth += 1
            if depth > limit:
                return False
        else:
            depth -= 1
    return True


def msgpack_depth_ok(data: bytes, limit: int = MAX_DEPTH) -> bool:
    """False when a MessagePack document nests maps/arrays more than `limit` deep."""
    if len(data.translate(None, _OTHERS)) <= limit:
        return True
    stack = [1]  # items still to read, per open level (the document is one item)
    i, n = 0, len(data)
    while stack and i < n:
        b = data[i]
        i += 1
        stack[-1] -= 1
        children = 0
        if (0x80 <= b <= 0x9F or 0xDC <= b <= 0xDF) and len(stack) > limit:
            return False  # this map/array would open one level too many
        if 0x80 <= b <= 0x8F:
            children = 2 * (b & 0x0F)
        elif 0x90 <= b <= 0x9F:
            children = b & 0x0F
        elif 0xA0 <= b <= 0xBF:
            i += b & 0x1F
        elif b in (0xDC, 0xDD, 0xDE, 0xDF):
            size = 2 if b in (0xDC, 0xDE) else 4
            children = int.from_bytes(data[i:i + size], "big") * (2 if b >= 0xDE else 1)
            i += size
        elif b in _SIZED:
            size, extra = _SIZED[b]
            i += size + extra + int.from_bytes(data[i:i + size], "big")
        else:
            i += _FIXED.get(b, 0)  # fixints and the rest: no payload
        if children:
            stack.append(children)
        while stack and stack[-1] == 0:
            stack.pop()
    return True
