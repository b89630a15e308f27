"""Creates model variants from a base (filled in by the tuning backend)."""
