"""The HTTP side of the daemon."""
