"""Step reuse: fingerprints of what a step depends on, and the cache of committed results."""
