#!/usr/bin/env python3
"""Checks Kafka RecordBatch v2 bytes written by pagelog with kafka-python, an independent
implementation (PyPI `kafka-python`; run by tests/kafka_python.rs).

    python3 scripts/kafka_check.py batch FILE EXPECTED
    python3 scripts/kafka_check.py dir KAFKA_PARTITION_DIR EXPECTED [INDEX_INTERVAL_BYTES]

`batch`: FILE holds batches back to back (a `.log`'s contents). `dir`: every
`<20 digits>.log` of the directory, in offset order, and its `.index` and `.timeindex`.

For every batch: kafka-python parses it, its CRC-32C validates, magic is 2, the whole file is
consumed. Data records (control batches excluded) must equal EXPECTED line for line (format in
scripts/kafka_fixtures.py). In `dir` mode each segment's `.index` and `.timeindex` must be
byte for byte what Kafka's LogSegment.recover builds for that `.log` (re-implemented here from
Kafka's source: an offset entry (last offset of the batch, its position) before each batch
starting more than INDEX_INTERVAL_BYTES (default 4096) after the last indexed one; a time entry
with it when the max timestamp grew; one more time entry at the end), and every segment's
offsets must come after the previous one's. Prints `ok: ...` and exits 0, or prints the first
difference and exits 1.
"""

import os
import re
import struct
import sys

from kafka.record.memory_records import MemoryRecords


def fmt_bytes(b):
    return "-" if b is None else "x:" + bytes(b).hex()


def fmt_record(r):
    hs = ",".join("%s=%s" % (k.encode("utf-8").hex(), fmt_bytes(v)) for k, v in r.headers) or "."
    return "\t".join([str(r.offset), str(r.timestamp), fmt_bytes(r.key), fmt_bytes(r.value), hs])


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def read_batches(data, what):
    """(position, batch) for every batch of `data`, all bytes consumed."""
    records = MemoryRecords(bytes(data))
    out = []
    pos = 0
    while records.has_next():
        batch = records.next_batch()
        if batch.magic != 2:
            fail("%s: batch at byte %d has magic %d" % (what, pos, batch.magic))
        if not batch.validate_crc():
            fail("%s: batch at byte %d fails its CRC-32C" % (what, pos))
        out.append((pos, batch))
        pos += batch.size_in_bytes
    if pos != len(data):
        fail("%s: %d bytes left after the last whole batch at byte %d" % (what, len(data) - pos, pos))
    return out


def records_of(batches):
    lines = []
    for _, batch in batches:
        if batch.is_control_batch:
            continue
        lines.extend(fmt_record(r) for r in batch)
    return lines


def expected(path):
    with open(path) as f:
        return [l.rstrip("\n") for l in f if l.strip() and not l.startswith("#")]


def compare(got, want):
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            fail("record %d differs:\n  kafka-python: %s\n  expected:     %s" % (i, g[:300], w[:300]))
    if len(got) != len(want):
        fail("kafka-python read %d records, expected %d" % (len(got), len(want)))


def kafka_indexes(base, batches, interval):
    """The .index and .timeindex Kafka's LogSegment.recover builds for these batches."""
    offsets, times = bytearray(), bytearray()
    max_ts, max_ts_offset, last_time = -1, base, -1
    valid, last_indexed = 0, 0
    for pos, batch in batches:
        last = batch.base_offset + batch.last_offset_delta
        if batch.max_timestamp > max_ts:
            max_ts, max_ts_offset = batch.max_timestamp, last
        if valid - last_indexed > interval:
            offsets += struct.pack(">II", last - base, valid)
            if max_ts > last_time:
                times += struct.pack(">qI", max_ts, max_ts_offset - base)
                last_time = max_ts
            last_indexed = valid
        valid += batch.size_in_bytes
    if max_ts > last_time:
        times += struct.pack(">qI", max_ts, max_ts_offset - base)
    return bytes(offsets), bytes(times)


def check_dir(d, want, interval):
    names = sorted(n for n in os.listdir(d) if re.fullmatch(r"\d{20}\.log", n))
    if not names:
        fail("%s: no segment files" % d)
    lines, n_batches, next_offset = [], 0, None
    for name in names:
        base = int(name[:20])
        path = os.path.join(d, name)
        with open(path, "rb") as f:
            batches = read_batches(f.read(), path)
        if next_offset is not None and base < next_offset:
            fail("%s: base offset %d, but the previous segment ends at %d" % (path, base, next_offset - 1))
        for pos, batch in batches:
            if batch.base_offset < base or (next_offset is not None and batch.base_offset < next_offset):
                fail("%s: batch at byte %d starts at offset %d" % (path, pos, batch.base_offset))
            if batch.base_offset + batch.last_offset_delta - base > 0x7FFFFFFF:
                fail("%s: batch at byte %d overflows 32-bit relative offsets" % (path, pos))
            if (batch.producer_id, batch.producer_epoch, batch.base_sequence) != (-1, -1, -1):
                fail("%s: batch at byte %d has producer fields" % (path, pos))
            next_offset = batch.base_offset + batch.last_offset_delta + 1
        if not batches:
            next_offset = base
        want_index, want_time = kafka_indexes(base, batches, interval)
        for ext, want_bytes in (("index", want_index), ("timeindex", want_time)):
            with open(os.path.join(d, name[:20] + "." + ext), "rb") as f:
                got_bytes = f.read()
            if got_bytes != want_bytes:
                fail("%s.%s: %d bytes differ from Kafka's %d bytes" % (name[:20], ext, len(got_bytes), len(want_bytes)))
        lines.extend(records_of(batches))
        n_batches += len(batches)
    compare(lines, want)
    print("ok: %d records in %d batches in %d segments, next offset %s" % (len(lines), n_batches, len(names), next_offset))


def main():
    args = sys.argv[1:]
    if len(args) >= 3 and args[0] == "batch":
        with open(args[1], "rb") as f:
            batches = read_batches(f.read(), args[1])
        got = records_of(batches)
        compare(got, expected(args[2]))
        print("ok: %d records in %d batches" % (len(got), len(batches)))
    elif len(args) >= 3 and args[0] == "dir":
        interval = int(args[3]) if len(args) > 3 else 4096
        check_dir(args[1], expected(args[2]), interval)
    else:
        print(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
