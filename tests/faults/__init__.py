"""The distributed fault suite (``python -m tests.faults``): see ``tests/faults/suite.py``."""
