"""Models that turn photos, frames and text into labels and vectors (loaded lazily, only when a pass needs them)."""
