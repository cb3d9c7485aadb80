"""Caring for accounts: the yearly care plan and budget, and the care tasks it sends."""
