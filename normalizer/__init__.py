"""normalizer."""
