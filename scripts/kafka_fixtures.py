#!/usr/bin/env python3
"""Makes the Kafka RecordBatch v2 fixtures of tests/kafka_codec.rs with kafka-python, an
implementation independent of pagelog's (PyPI `kafka-python`, tested with 3.0.12).

    pip install kafka-python==3.0.12
    python3 scripts/kafka_fixtures.py            # rewrites tests/fixtures/kafka/

Writes, under tests/fixtures/kafka/:

* batches/<name>.bin       one batch built by kafka-python's DefaultRecordBatchBuilder
  batches/<name>.expected  its records, in the format below
* orders-0/                a Kafka partition directory (two segments of such batches, a control
                           batch, the files a broker keeps beside them)
  orders-0.expected        the records pagelog must hold after importing it
* late-0/, late-0.expected a partition directory whose log starts at offset 1000

Expected-records format (also read by scripts/kafka_check.py and the Rust tests), one record
per line, TAB-separated: `offset timestamp key value headers`, where key and value are `-`
for null or `x:` followed by lowercase hex, and headers is `.` for none or a comma-separated
list of `<hex key>=<x:hex value or ->`. Lines starting with `#` are comments.

kafka-python's builder always writes base offset 0 and partition leader epoch 0; where a
fixture needs another base offset the script patches bytes 0..8 (not covered by the CRC).
Control and LogAppendTime batches cannot be built by a producer; the script sets their
attribute bits and recomputes the CRC-32C with kafka-python's own `calc_crc32c`.
"""

import os
import shutil
import struct
import sys

from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords
from kafka.record.util import calc_crc32c

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "kafka")
T0 = 1_700_000_000_000


def builder(compression=0, transactional=False, pid=-1, epoch=-1, seq=-1):
    return DefaultRecordBatchBuilder(
        magic=2, compression_type=compression, is_transactional=transactional,
        producer_id=pid, producer_epoch=epoch, base_sequence=seq, batch_size=1 << 30)


def build(records, base=0, **kw):
    """records: (offset_delta, timestamp, key, value, [(header key str, value|None)])."""
    b = builder(**kw)
    for delta, ts, key, value, headers in records:
        if b.append(delta, ts, key, value, headers) is None:
            raise SystemExit("builder refused a record")
    data = bytearray(b.build())
    struct.pack_into(">q", data, 0, base)
    return data


def set_attributes(data, mask, max_timestamp=None):
    """Sets attribute bits (and optionally maxTimestamp), then recomputes the CRC."""
    attrs, = struct.unpack_from(">h", data, 21)
    struct.pack_into(">h", data, 21, attrs | mask)
    if max_timestamp is not None:
        struct.pack_into(">q", data, 35, max_timestamp)
    struct.pack_into(">I", data, 17, calc_crc32c(bytes(data[21:])))
    return data


def fmt_bytes(b):
    return "-" if b is None else "x:" + bytes(b).hex()


def fmt_record(offset, ts, key, value, headers):
    hs = ",".join("%s=%s" % (k.encode("utf-8").hex(), fmt_bytes(v)) for k, v in headers) or "."
    return "\t".join([str(offset), str(ts), fmt_bytes(key), fmt_bytes(value), hs])


def expected_lines(base, records, log_append_time=None):
    return [fmt_record(base + d, log_append_time if log_append_time is not None else ts, k, v, h)
            for d, ts, k, v, h in records]


def check_with_kafka_python(data, lines):
    """Our own sanity check: kafka-python reads back what the file says."""
    got = []
    for batch in MemoryRecords(bytes(data)):
        assert batch.validate_crc(), "crc"
        if batch.is_control_batch:
            continue
        for r in batch:
            got.append(fmt_record(r.offset, r.timestamp, r.key, r.value, r.headers))
    assert got == lines, (got, lines)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def write_expected(path, comment, lines):
    with open(path, "w") as f:
        f.write("# %s\n" % comment)
        for line in lines:
            f.write(line + "\n")


# -- single batches --------------------------------------------------------------------------

BASIC = [
    (0, T0, b"user-1", b"hello", [("source", b"web")]),
    (1, T0 + 5, None, b"", []),
    (2, T0 - 10, b"user-1", None, [("a", b""), ("b", b"\x00\xff")]),
    (3, T0 + 1, b"", bytes(range(256)) * 2, [("\u043a\u043b\u044e\u0447", b"v")]),
]
GAPS = [
    (0, T0, b"k0", b"v0", []),
    (2, T0 + 1, b"k2", b"v2", []),
    (5, T0 + 2, b"k5", b"v5", [("h", b"x")]),
]
GZIP = [(d, T0 + d, b"key-%d" % d, b"gzip me " * 40, [("n", str(d).encode())]) for d in range(10)]
TXN = [(0, T0, b"t", b"in a transaction", []), (1, T0 + 1, b"t", b"second", [])]
NULL_HEADER = [(0, T0, b"k", b"v", [("empty", None), ("set", b"1")])]
APPEND_TIME = [(0, T0, b"k", b"v1", []), (1, T0 + 7, b"k", b"v2", [])]
APPEND_TS = T0 + 60_000


def control(base, commit=True, pid=4242, epoch=3):
    key = struct.pack(">hh", 0, 1 if commit else 0)
    value = struct.pack(">hi", 0, 5)  # version, coordinator epoch
    data = build([(0, T0 + 100, key, value, [])], base=base, transactional=True,
                 pid=pid, epoch=epoch, seq=-1)
    return set_attributes(data, 0x20)


def main():
    if os.path.isdir(ROOT):
        shutil.rmtree(ROOT)
    os.makedirs(ROOT)
    batches = os.path.join(ROOT, "batches")

    singles = [
        ("basic", 0, build(BASIC), BASIC, "4 records: keys, null key, tombstone, empty value, "
         "headers (UTF-8 key), earlier timestamp; base offset 0. Golden bytes for the encoder."),
        ("gaps", 1000, build(GAPS, base=1000), GAPS, "offset deltas 0, 2, 5 at base offset "
         "1000 (as after compaction). Golden bytes for the encoder."),
        ("gzip", 0, build(GZIP, compression=1), GZIP, "10 records, gzip-compressed."),
        ("transactional", 3, build(TXN, base=3, transactional=True, pid=4242, epoch=3, seq=7),
         TXN, "transactional, producer id 4242, epoch 3, base sequence 7."),
        ("null_header", 0, build(NULL_HEADER), NULL_HEADER, "a header with a null value."),
    ]
    for name, base, data, recs, comment in singles:
        lines = expected_lines(base, recs)
        check_with_kafka_python(data, lines)
        write(os.path.join(batches, name + ".bin"), data)
        write_expected(os.path.join(batches, name + ".expected"), comment, lines)
    assert DefaultRecordBatch(bytes(singles[2][2])).compression_type == 1, "gzip not used"

    data = set_attributes(build(APPEND_TIME), 0x08, max_timestamp=APPEND_TS)
    lines = expected_lines(0, APPEND_TIME, log_append_time=APPEND_TS)
    check_with_kafka_python(data, lines)
    write(os.path.join(batches, "log_append_time.bin"), data)
    write_expected(os.path.join(batches, "log_append_time.expected"),
                   "LogAppendTime: every record's timestamp is maxTimestamp.", lines)

    data = control(base=7)
    write(os.path.join(batches, "control_commit.bin"), data)
    write_expected(os.path.join(batches, "control_commit.expected"),
                   "a control batch (commit marker) at offset 7: no data records.", [])

    # -- a partition directory as a broker leaves it -----------------------------------------
    seg0 = bytearray()
    seg0 += build(BASIC, base=0)                                        # offsets 0-3
    seg0 += build(TXN, base=4, transactional=True, pid=4242, epoch=3, seq=0)  # 4-5
    seg0 += control(base=6)                                             # 6 (skipped)
    seg0 += build(GZIP, base=7, compression=1)                          # 7-16
    seg1 = bytearray()
    seg1 += build(GAPS, base=20)                                        # 20, 22, 25
    seg1 += build(NULL_HEADER, base=26)                                 # 26
    seg1 += set_attributes(build(APPEND_TIME, base=27), 0x08, max_timestamp=APPEND_TS)  # 27-28
    lines = (expected_lines(0, BASIC) + expected_lines(4, TXN) + expected_lines(7, GZIP)
             + expected_lines(20, GAPS) + expected_lines(26, NULL_HEADER)
             + expected_lines(27, APPEND_TIME, log_append_time=APPEND_TS))
    check_with_kafka_python(seg0 + seg1, lines)
    d = os.path.join(ROOT, "orders-0")
    write(os.path.join(d, "00000000000000000000.log"), seg0)
    write(os.path.join(d, "00000000000000000020.log"), seg1)
    for base in ("00000000000000000000", "00000000000000000020"):
        # Not read by import (pagelog rebuilds its own indexes): empty, as a broker's
        # indexes are for segments below index.interval.bytes.
        write(os.path.join(d, base + ".index"), b"")
        write(os.path.join(d, base + ".timeindex"), b"")
    write(os.path.join(d, "00000000000000000020.snapshot"), b"")
    write(os.path.join(d, "leader-epoch-checkpoint"), b"0\n1\n0 0\n")
    write(os.path.join(d, "partition.metadata"),
          b"version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAA\n")
    write_expected(os.path.join(ROOT, "orders-0.expected"),
                   "orders-0 after import: next offset 29; offset 6 (control) and 17-19, 21, "
                   "23-24 are gaps.", lines)

    d = os.path.join(ROOT, "late-0")
    late = [(0, T0, b"late", b"first", []), (1, T0 + 1, b"late", b"second", [])]
    write(os.path.join(d, "00000000000000001000.log"), build(late, base=1005))
    write_expected(os.path.join(ROOT, "late-0.expected"),
                   "late-0 after import: start offset 1000, next offset 1007.",
                   expected_lines(1005, late))
    print("wrote fixtures to %s" % os.path.normpath(ROOT))


if __name__ == "__main__":
    sys.exit(main())
