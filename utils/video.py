"""Evaluation videos: the world as the teacher sees it (true grid, never-seen cells greyed out), as GIF or MP4.

    frame = render_memory_frame(env)                  # (H, W, 3) uint8
    with VideoRecorder("videos/eval.gif", fps=8) as rec:
        rec.add(add_status_strip(frame, "ep 1 step 0"))

The format follows the file suffix: .gif (imageio + pillow) or .mp4 (needs the imageio-ffmpeg package).
check_video_path(path) says before any work whether the file can be written (one UserError line if not).
"""
import glob
import importlib.util
import os
import tempfile

import numpy as np

from utils.atomic import TEMP_SUFFIX, atomic_write
from utils.errors import UserError

UNSEEN_GREY = 48      # the dark grey unseen cells are blended towards
UNSEEN_KEEP = 0.3     # how much of the true colour an unseen cell keeps
STRIP_HEIGHT = 16     # the status line under the grid (add_status_strip)
SUFFIXES = (".gif", ".mp4")


def render_memory_frame(env, tile_size=16):
    """minigrid's drawing of the true grid with the agent, cells not in `env.seen` blended into dark grey.
    Returns an (H * tile_size, W * tile_size, 3) uint8 array (image rows are grid y, columns grid x)."""
    base = env.unwrapped if hasattr(env, "unwrapped") else env
    img = base.grid.render(tile_size, base.agent_pos, base.agent_dir, highlight_mask=None)
    seen = np.asarray(base.seen, dtype=bool)                      # (W, H), indexed [x, y]
    pixel_seen = np.repeat(np.repeat(seen.T, tile_size, axis=0), tile_size, axis=1)
    pixel_seen = pixel_seen[: img.shape[0], : img.shape[1]]
    out = img.astype(np.float32)
    unseen = ~pixel_seen
    out[unseen] = out[unseen] * UNSEEN_KEEP + UNSEEN_GREY * (1.0 - UNSEEN_KEEP)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def add_status_strip(frame, text, height=STRIP_HEIGHT):
    """The frame with a black strip below it showing `text` (white, pillow's default font)."""
    from PIL import Image, ImageDraw, ImageFont
    frame = np.asarray(frame, dtype=np.uint8)
    strip = Image.new("RGB", (frame.shape[1], height), (0, 0, 0))
    ImageDraw.Draw(strip).text((3, 2), text, fill=(255, 255, 255), font=ImageFont.load_default())
    return np.concatenate([frame, np.asarray(strip, dtype=np.uint8)], axis=0)


def check_video_path(path):
    """The suffix (.gif/.mp4) of a video file that can be written; UserError (one line) if it cannot: a wrong
    suffix, MP4 without imageio-ffmpeg, a folder in its place, or a place where no file can be created (tried by
    creating and removing a file in the nearest existing folder: permission bits alone do not tell, e.g. /proc
    for root). Creates nothing that stays."""
    path = str(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in SUFFIXES:
        raise UserError(f"video file {path} must end in .gif or .mp4")
    if suffix == ".mp4" and importlib.util.find_spec("imageio_ffmpeg") is None:
        raise UserError("MP4 videos need the imageio-ffmpeg package (pip install imageio-ffmpeg); "
                        "or give a .gif file name")
    if os.path.isdir(path):
        raise UserError(f"cannot write the video {path}: it is a folder")
    folder = os.path.dirname(os.path.abspath(path))
    while not os.path.lexists(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    try:
        if not os.path.isdir(folder):
            raise NotADirectoryError(f"{folder} is not a folder")
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".video-probe.", suffix=TEMP_SUFFIX):
            pass
        if os.path.exists(path) and not os.access(path, os.W_OK):
            raise PermissionError(f"{path} is read-only")
    except OSError as e:
        raise UserError(f"cannot write the video {path}: {e.strerror or e}") from None
    return suffix


class VideoRecorder:
    """Collects RGB frames and writes them to `path` on close(); the suffix (.gif/.mp4) picks the format.

    GIF: frames are kept in memory until close() (keep videos short); pillow merges a frame identical to the
    one before it into it (longer display time), so a GIF can hold fewer frames than were added unless the
    frames differ (a status strip with the step number makes every frame differ). MP4: frames stream to ffmpeg;
    frame sizes that are not multiples of 16 are padded by imageio-ffmpeg.
    """

    def __init__(self, path, fps=8):
        self.path = str(path)
        self.fps = float(fps)
        if self.fps <= 0:
            raise UserError(f"video fps must be positive, got {fps}")
        self.suffix = check_video_path(self.path)
        self.frames = []
        self.count = 0
        self._writer = None
        self._closed = False
        parent = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(parent, exist_ok=True)
        except OSError as e:
            raise UserError(f"cannot create the video folder {parent}: {e.strerror or e}") from None

    def add(self, frame):
        if self._closed:
            raise RuntimeError("VideoRecorder.add after close")
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frames must be (H, W, 3) RGB arrays, got shape {frame.shape}")
        frame = frame.astype(np.uint8, copy=False)
        if self.count and frame.shape != self._shape:
            raise ValueError(f"frame shape {frame.shape} differs from the first frame's {self._shape}")
        self._shape = frame.shape
        if self.suffix == ".mp4":
            if self._writer is None:
                import imageio.v2 as iio
                self._writer = iio.get_writer(self.path, format="FFMPEG", mode="I", fps=self.fps,
                                              codec="libx264", pixelformat="yuv420p", macro_block_size=16)
            self._writer.append_data(frame)
        else:
            self.frames.append(frame.copy())
        self.count += 1

    def close(self):
        """Write the file (nothing is written when no frame was added); returns the path or None."""
        if self._closed:
            return self.path if self.count else None
        self._closed = True
        if self.suffix == ".mp4":
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        elif self.frames:
            import imageio.v3 as iio
            frames, self.frames = np.stack(self.frames), []
            atomic_write(self.path, lambda f: iio.imwrite(f, frames, extension=".gif", duration=1000.0 / self.fps,
                                                          loop=0), what="video")
        return self.path if self.count else None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def prune_videos(folder, keep, pattern="*"):
    """Delete the oldest .gif/.mp4 files in `folder` (matching pattern) so that at most `keep` remain;
    returns the deleted paths. For training, which writes a video per eval round."""
    files = [f for f in glob.glob(os.path.join(folder, pattern)) if os.path.splitext(f)[1].lower() in SUFFIXES]
    files.sort(key=lambda f: (os.path.getmtime(f), f))
    doomed = files[: max(0, len(files) - int(keep))]
    for f in doomed:
        os.remove(f)
    return doomed
