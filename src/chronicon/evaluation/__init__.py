"""Evaluation of what the passes produce: captions against references, structured extraction against truth."""
