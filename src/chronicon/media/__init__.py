"""Reading photos and videos: sniffing, metadata, decoding, image metrics."""
