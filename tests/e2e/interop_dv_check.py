#!/usr/bin/env python3
"""interop_dv_check.py - an independent reader of Iceberg v3 deletion vectors.

    interop_dv_check.py PUFFIN OFFSET LENGTH REFERENCED_DATA_FILE CARDINALITY

Checks the Puffin file against the Puffin spec (magic "PFA1" at the start and
in the footer, footer payload length and flags, JSON payload) and the blob at
[OFFSET, OFFSET+LENGTH) against the deletion-vector-v1 spec: the footer entry
for that offset has type deletion-vector-v1, fields [2147483645], snapshot-id
and sequence-number -1, the same length, no compression, and the properties
referenced-data-file and cardinality; the blob is a big-endian length of
magic + vector, the magic D1 D3 39 64, the vector in the 64-bit portable
Roaring form, and a big-endian CRC-32 (zlib's) of magic + vector. Each 32-bit
bitmap is decoded by CRoaring (libroaring, through ctypes: not kiln's code).
Prints the deleted positions, one per line, ascending; exits 1 with a reason
on any violation.
"""
import ctypes
import ctypes.util
import json
import struct
import sys
import zlib


def fail(msg):
    print("interop_dv_check: " + msg, file=sys.stderr)
    sys.exit(1)


def croaring():
    name = ctypes.util.find_library("roaring")
    if not name:
        fail("libroaring (CRoaring) not found: install libroaring-dev (scripts/deps.sh)")
    lib = ctypes.CDLL(name)
    lib.roaring_bitmap_portable_deserialize_safe.restype = ctypes.c_void_p
    lib.roaring_bitmap_portable_deserialize_safe.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    lib.roaring_bitmap_portable_size_in_bytes.restype = ctypes.c_size_t
    lib.roaring_bitmap_portable_size_in_bytes.argtypes = [ctypes.c_void_p]
    lib.roaring_bitmap_get_cardinality.restype = ctypes.c_uint64
    lib.roaring_bitmap_get_cardinality.argtypes = [ctypes.c_void_p]
    lib.roaring_bitmap_to_uint32_array.restype = None
    lib.roaring_bitmap_to_uint32_array.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32)]
    lib.roaring_bitmap_free.restype = None
    lib.roaring_bitmap_free.argtypes = [ctypes.c_void_p]
    return lib


def main():
    if len(sys.argv) != 6:
        fail("usage: interop_dv_check.py PUFFIN OFFSET LENGTH REFERENCED_DATA_FILE CARDINALITY")
    path, off, length, ref, card = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
    data = open(path, "rb").read()
    if data[:4] != b"PFA1" or data[-4:] != b"PFA1":
        fail("%s: no Puffin magic at the start or end" % path)
    payload_len, flags = struct.unpack("<iI", data[-12:-4])
    if flags & 1:
        fail("footer is compressed (kiln writes it plain)")
    foot_start = len(data) - 12 - payload_len - 4
    if foot_start < 4 or data[foot_start:foot_start + 4] != b"PFA1":
        fail("footer magic missing at %d" % foot_start)
    footer = json.loads(data[foot_start + 4:foot_start + 4 + payload_len].decode("utf-8"))
    blobs = [b for b in footer.get("blobs", []) if b.get("offset") == off]
    if len(blobs) != 1:
        fail("no single footer entry for offset %d: %s" % (off, footer))
    b = blobs[0]
    want = {"type": "deletion-vector-v1", "fields": [2147483645], "snapshot-id": -1, "sequence-number": -1,
            "length": length}
    for k, v in want.items():
        if b.get(k) != v:
            fail("footer entry %s is %r, want %r" % (k, b.get(k), v))
    if b.get("compression-codec") not in (None,):
        fail("a deletion vector must not be compressed")
    props = b.get("properties", {})
    if props.get("referenced-data-file") != ref:
        fail("referenced-data-file %r, manifest says %r" % (props.get("referenced-data-file"), ref))
    if props.get("cardinality") != str(card):
        fail("cardinality %r, manifest record_count %d" % (props.get("cardinality"), card))
    if off < 4 or off + length > foot_start:
        fail("blob [%d, %d) is outside the blob area" % (off, off + length))
    blob = data[off:off + length]
    (vlen,) = struct.unpack(">I", blob[:4])
    if vlen + 8 != length or blob[4:8] != b"\xd1\xd3\x39\x64":
        fail("blob length %d / magic %s wrong" % (vlen, blob[4:8].hex()))
    (crc,) = struct.unpack(">I", blob[4 + vlen:8 + vlen])
    if zlib.crc32(blob[4:4 + vlen]) & 0xFFFFFFFF != crc:
        fail("CRC-32 mismatch")
    vec = blob[8:4 + vlen]
    (nmaps,) = struct.unpack("<Q", vec[:8])
    p = 8
    lib = croaring()
    out = []
    last_key = -1
    for _ in range(nmaps):
        (key,) = struct.unpack("<I", vec[p:p + 4])
        p += 4
        if key <= last_key:
            fail("bitmap keys not ascending")
        last_key = key
        rest = vec[p:]
        bm = lib.roaring_bitmap_portable_deserialize_safe(rest, len(rest))
        if not bm:
            fail("CRoaring cannot read the 32-bit bitmap of key %d" % key)
        n = lib.roaring_bitmap_get_cardinality(bm)
        arr = (ctypes.c_uint32 * max(n, 1))()
        lib.roaring_bitmap_to_uint32_array(bm, arr)
        p += lib.roaring_bitmap_portable_size_in_bytes(bm)
        lib.roaring_bitmap_free(bm)
        out.extend((key << 32) | arr[i] for i in range(n))
    if p != len(vec):
        fail("%d bytes after the last bitmap" % (len(vec) - p))
    if len(out) != card:
        fail("the bitmaps hold %d positions, cardinality says %d" % (len(out), card))
    sys.stdout.write("".join("%d\n" % x for x in out))


main()
