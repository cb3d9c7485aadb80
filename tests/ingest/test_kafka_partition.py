"""The Kafka bus's partitioner: Java's murmur2, so keys land where any client puts them."""

from __future__ import annotations

import pytest
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from ingest.bus.kafka import kafka_partition, murmur2


@pytest.mark.parametrize(("key", "java"), [
    # org.apache.kafka.common.utils.UtilsTest#testMurmur2 (signed 32-bit ints in Java).
    ("21", -973932308),
    ("foobar", -790332482),
    ("a-little-bit-long-string", -985981536),
    ("a-little-bit-longer-string", -1486304829),
    ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
    ("abc", 479470107),
])
def test_murmur2_matches_the_java_client(key: str, java: int) -> None:
    assert murmur2(key.encode()) == java & 0xFFFFFFFF


@given(st.binary(max_size=300))
def test_murmur2_matches_aiokafka_on_any_bytes(key: bytes) -> None:
    assert murmur2(key) == aiokafka_murmur2(key)


def test_a_key_always_goes_to_the_partition_kafka_chooses() -> None:
    partitions = [0, 1, 2, 3]
    for i in range(200):
        key = f"webform:form-{i}".encode()
        expected = (aiokafka_murmur2(key) & 0x7FFFFFFF) % 4
        assert kafka_partition(key, partitions, partitions) == expected
        assert kafka_partition(key, partitions, [expected]) == expected


def test_records_without_a_key_go_to_an_available_partition() -> None:
    chosen = {kafka_partition(None, [0, 1, 2, 3], [1, 3]) for _ in range(200)}
    assert chosen == {1, 3}
    assert kafka_partition(None, [0, 1], []) in (0, 1)
