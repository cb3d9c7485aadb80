"""desk: the staff side — the staff API over HTTP, and (later) pages, surveys, reports, care.

It stands above ``router/`` (who works a ticket and when it is due) and imports downhill only:
``router/``, ``normalizer/``, ``connectors/``, ``storage/``; nothing here imports ``ingest/``.
"""
