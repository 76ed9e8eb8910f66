"""Video in and out: frame sampling and decoding (``read``), writing (``write``)."""

from pathfer.data.video.read import (
    IMAGE_EXTENSIONS,
    MEDIA_EXTENSIONS,
    VIDEO_EXTENSIONS,
    DecodedClip,
    FrameSampling,
    VideoError,
    VideoInfo,
    decode_frames,
    is_image,
    is_media,
    iter_frames,
    probe,
    read_frames,
    sample_indices,
)
from pathfer.data.video.write import VideoSink, VideoWriteWarning, read_all_frames, write_video

__all__ = [
    "IMAGE_EXTENSIONS",
    "MEDIA_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "DecodedClip",
    "FrameSampling",
    "VideoError",
    "VideoInfo",
    "VideoSink",
    "VideoWriteWarning",
    "decode_frames",
    "is_image",
    "is_media",
    "iter_frames",
    "probe",
    "read_all_frames",
    "read_frames",
    "sample_indices",
    "write_video",
]
