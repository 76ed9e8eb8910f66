"""pathfer: facial emotion recognition from video with PathNet transfer."""

__version__ = "0.2.0"
