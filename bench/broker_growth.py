#!/usr/bin/env python3
"""The test broker's fetch cost as a partition grows: bench/broker-growth.

Tansu 0.6 (memory storage) keeps each produced batch as an object and, on every fetch that finds
new data, lists all of the partition's objects to find where to read. Its CPU per consumed
message therefore grows with everything ever written to the partition, and it cannot shed old
records (DeleteRecords is not implemented: the request panics the broker's connection task).

This starts a broker of its own on a loopback port, then alternates: a steady 100 messages a
second produced and consumed for 10 s (the broker's CPU per consumed message is measured), and
10,000 more one-message batches written to the partition. It stops by itself after the last step.
"""
import json
import os
import subprocess
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from bench import cpu_seconds

PORT = 9092 + 6600  # clear of the clusters' offsets (tests 1000, drills 5000, bench 6500, two sites 9000)
STEPS = 4
FILL = 10_000
RATE = 100
SECONDS = 10


def steady(producer, consumer, pid):
    """Produces and consumes RATE messages a second for SECONDS; broker CPU ms per consumed message."""
    consumed, sent, start, cpu0 = 0, 0, time.time(), cpu_seconds(pid)
    while time.time() - start < SECONDS:
        while sent < int((time.time() - start) * RATE):
            producer.produce("growth", b"x" * 700)
            producer.poll(0)
            sent += 1
        message = consumer.poll(0.005)
        if message is not None and not message.error():
            consumed += 1
    producer.flush()
    return 1000 * (cpu_seconds(pid) - cpu0) / max(1, consumed), consumed, sent


def main():
    address = f"127.0.0.1:{PORT}"
    broker = subprocess.Popen(["tansu", "broker", "--listener-url", f"tcp://{address}", "--advertised-listener-url", f"tcp://{address}"],
                              env=dict(os.environ, TOKIO_WORKER_THREADS="1"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows = []
    try:
        admin = AdminClient({"bootstrap.servers": address})
        for future in admin.create_topics([NewTopic("growth", 1, 1)], request_timeout=30).values():
            future.result()
        producer = Producer({"bootstrap.servers": address, "linger.ms": 0, "acks": "all"})
        consumer = Consumer({"bootstrap.servers": address, "group.id": "growth", "fetch.wait.max.ms": 20, "enable.auto.commit": False})
        stored = 0
        for step in range(STEPS):
            _, high = consumer.get_watermark_offsets(TopicPartition("growth", 0), timeout=10)
            consumer.assign([TopicPartition("growth", 0, high)])
            ms, consumed, sent = steady(producer, consumer, broker.pid)
            stored += sent
            rows.append({"batches_stored": stored, "broker_ms_per_message": round(ms, 3), "consumed": consumed, "offered": sent})
            print(f"broker-growth: {stored:6d} batches in the partition: {ms:8.3f} ms of broker CPU per consumed message "
                  f"({consumed} of {sent} consumed in {SECONDS} s)", flush=True)
            if step + 1 < STEPS:
                print(f"broker-growth: writing {FILL} more one-message batches", flush=True)
                for _ in range(FILL):
                    producer.produce("growth", b"x" * 700)
                    producer.flush()  # one request, so one batch (one object) per message
                stored += FILL
    finally:
        broker.kill()
        broker.wait()
    print(json.dumps(rows))


if __name__ == "__main__":
    sys.exit(main())
