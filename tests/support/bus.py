"""Reading a bus from the tests' side."""

from __future__ import annotations

import uuid

from ingest.bus.base import Bus, Record


async def read_all(bus: Bus, topic: str) -> list[Record]:
    """Every record of ``topic`` so far, read by a consumer group of its own."""
    consumer = bus.consumer(f"reader-{uuid.uuid4().hex[:8]}", [topic])
    await consumer.start()
    found: list[Record] = []
    try:
        while batch := await consumer.poll(500, 0.2):
            found.extend(batch)
    finally:
        await consumer.close()
    return found
