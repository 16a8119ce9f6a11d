"""The scanner: discovery, diffing against the catalog, and the phased, batched passes."""
