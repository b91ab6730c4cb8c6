"""Shared helpers for the view tests: the official prototxts, file-format checks, a tiny PNG decoder."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

from official_nets import official_path


def official(name: str) -> Path:
    """The official prototxt ``name`` (the release's file, or the identical generated net: see official_nets)."""
    return official_path(name)


def assert_svg(data: bytes) -> ET.Element:
    root = ET.fromstring(data)
    assert root.tag.endswith("svg"), root.tag
    return root


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    w, h = struct.unpack(">II", data[16:24])
    assert w > 0 and h > 0
    return w, h


def assert_pdf(data: bytes) -> None:
    assert data.startswith(b"%PDF-"), data[:10]
    assert b"%%EOF" in data[-1024:]


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """8-bit RGB/RGBA/grey PNG -> (width, height, rows of raw pixel bytes); enough for screenshots."""
    w, h = png_size(data)
    bit_depth, color_type, _, _, interlace = struct.unpack(">BBBBB", data[24:29])
    assert bit_depth == 8 and interlace == 0, (bit_depth, interlace)
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = w * channels
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(h):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 255
            elif ftype == 2:
                line[i] = (line[i] + b) & 255
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, channels, rows
