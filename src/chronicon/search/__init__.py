"""Semantic search over the catalog: query parsing, filters, vector + full-text retrieval and fusion."""
