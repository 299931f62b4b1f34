#!/usr/bin/env python3
"""An independent Kafka client for the tests (confluent-kafka from PyPI, its own librdkafka).

  topic.py read BROKERS TOPIC      every message of every partition, one JSON line each:
                                   {"partition", "offset", "key", "headers", "value"}
  topic.py produce BROKERS TOPIC   JSON lines from stdin, each {"key", "value"} (value a
                                   string), into a new one-partition topic, in order
"""
import json
import sys

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def read(brokers, topic):
    c = Consumer({
        "bootstrap.servers": brokers,
        "group.id": "airlock-test-reader",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    })
    meta = c.list_topics(topic, timeout=10)
    parts = sorted(meta.topics[topic].partitions.keys())
    for p in parts:
        low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        if high <= low:
            continue
        c.assign([TopicPartition(topic, p, low)])
        nxt = low
        while nxt < high:
            m = c.poll(10)
            if m is None:
                sys.exit(f"no message at {topic}/{p}@{nxt}")
            if m.error():
                sys.exit(str(m.error()))
            nxt = m.offset() + 1
            print(json.dumps({
                "partition": m.partition(),
                "offset": m.offset(),
                "key": (m.key() or b"").decode(),
                "headers": {k: (v or b"").decode() for k, v in (m.headers() or [])},
                "value": (m.value() or b"").decode(),
            }))
    c.close()


def produce(brokers, topic):
    admin = AdminClient({"bootstrap.servers": brokers})
    for f in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        f.result()
    p = Producer({"bootstrap.servers": brokers, "enable.idempotence": True, "acks": "all"})
    failures = []
    for line in sys.stdin:
        if not line.strip():
            continue
        rec = json.loads(line)
        p.produce(topic, key=rec["key"].encode(), value=rec["value"].encode(),
                  on_delivery=lambda err, _m: err and failures.append(err))
    p.flush(30)
    if failures:
        sys.exit(f"delivery failed: {failures[0]}")


if __name__ == "__main__":
    cmd, brokers, topic = sys.argv[1:4]
    {"read": read, "produce": produce}[cmd](brokers, topic)
