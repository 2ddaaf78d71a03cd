#!/usr/bin/env python3
"""Dumps every record of a Kafka topic with kafka-python, for tests/mirror.rs.

usage: mirror_check.py BOOTSTRAP TOPIC

Reads each partition of TOPIC from its beginning until no new record arrives for 2 s, and
prints one line per record, in partition then offset order, TAB-separated:

    PARTITION  OFFSET  TIMESTAMP  KEY  VALUE  HEADERS

KEY and VALUE are lower-case hex, or `-` for null (an empty key or value is `""` hex, i.e. an
empty field). HEADERS is `key=hex` items joined by `;` in the order the broker returned them
(`-` when there are none). The Rust test builds the same lines from pagelog and compares them,
so this is an independent client's view of what the mirror produced.

Exit code 0 on success, 1 with a message on stderr if the topic is missing or records keep
arriving for 60 s. Needs kafka-python (`pip install kafka-python`).
"""

import sys
import time

from kafka import KafkaConsumer, TopicPartition


IDLE = 2.0


def hexor(b):
    return "-" if b is None else b.hex()


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    bootstrap, topic = sys.argv[1], sys.argv[2]
    consumer = KafkaConsumer(
        bootstrap_servers=[bootstrap],
        enable_auto_commit=False,
        group_id=None,
        auto_offset_reset="earliest",
        consumer_timeout_ms=1000,
        request_timeout_ms=30000,
    )
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        print(f"topic {topic!r} not found", file=sys.stderr)
        return 1
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    # Read until nothing new arrives for IDLE seconds rather than up to end_offsets():
    # tansu 0.6 (memory storage) reports the last batch's base offset + 1 as the end offset,
    # short of that batch's other records. The topic is static while this runs.
    rows = {tp.partition: {} for tp in tps}
    deadline = time.monotonic() + 60
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < IDLE:
        if time.monotonic() > deadline:
            print("timed out: records kept arriving for 60 s", file=sys.stderr)
            return 1
        for tp, records in consumer.poll(timeout_ms=200).items():
            for r in records:
                if r.offset not in rows[tp.partition]:
                    rows[tp.partition][r.offset] = r
                    idle_since = time.monotonic()
    consumer.close()
    out = sys.stdout
    for p in sorted(rows):
        for _, r in sorted(rows[p].items()):
            headers = ";".join(f"{k}={hexor(v)}" for k, v in (r.headers or [])) or "-"
            out.write(
                f"{p}\t{r.offset}\t{r.timestamp}\t{hexor(r.key)}\t{hexor(r.value)}\t{headers}\n"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
