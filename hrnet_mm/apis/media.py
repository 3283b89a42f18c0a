"""Read an image, a folder of images or a video frame by frame; write the annotated copy whole.

:func:`open_media` checks the input before anything else happens (it exists, OpenCV decodes
it, a folder holds images) and yields BGR frames; :func:`media_writer` writes the annotated
frames of one source as the same kind of thing: an image file, a folder of images (same file
names) or a video (same frame rate and frame count). The writer works on a hidden temporary
file or folder beside the output and renames it into place only when every frame is written,
so an error or an interrupt leaves no half-written output.

Example::

    from hrnet_mm.apis.media import media_writer, open_media
    source = open_media('clip.mp4')
    with media_writer('clip_pose.mp4', source) as writer:
        for name, frame in source:
            writer.write(name, frame[:, ::-1].copy())   # mirrored
"""
import os
import os.path as osp
import shutil
import tempfile
from typing import Iterator, List, Optional, Tuple

import cv2
import numpy as np

from ..fileio import atomic_path

IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')
VIDEO_EXTS = ('.mp4', '.avi')
# Codecs the pip wheels of OpenCV write without extra libraries.
FOURCC = {'.mp4': 'mp4v', '.avi': 'MJPG'}


class InputError(ValueError):
    """A file or folder the user named is not what it should be (the message names it and
    what mismatched); command lines print it without a traceback."""


def _ext(path: str) -> str:
    return osp.splitext(path)[1].lower()


def read_image(path: str) -> np.ndarray:
    """The BGR image at ``path``; ``FileNotFoundError`` / :class:`InputError` naming the file."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'input image not found: {path}')
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f'cannot read image {path}: OpenCV does not decode it (corrupt, or '
                         f'not an image)')
    return image


def _default_permissions(path: str) -> None:
    """Give a file made by ``tempfile`` (mode 0600) the mode a plain ``open`` would."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


class MediaSource:
    """BGR frames of an image, a folder of images or a video (see :func:`open_media`).

    Attributes:
        path (str): The input.
        kind (str): ``'image'``, ``'folder'`` or ``'video'``.
        fps (float): Frames per second (videos; 0 for images).
    """

    def __init__(self, path: str, kind: str, files: Optional[List[str]] = None,
                 fps: float = 0.0, num_frames: int = 0):
        self.path = path
        self.kind = kind
        self.files = files or []
        self.fps = fps
        self._num_frames = num_frames

    def __len__(self) -> int:
        """Frames to expect (a video's header count, which a broken file may not reach)."""
        return self._num_frames if self.kind == 'video' else len(self.files)

    def __iter__(self) -> Iterator[Tuple[str, np.ndarray]]:
        """``(name, BGR frame)``: the file name for images, ``frame_000123`` for videos."""
        if self.kind != 'video':
            for f in self.files:
                yield osp.basename(f), read_image(f)
            return
        capture = cv2.VideoCapture(self.path)
        try:
            index = 0
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                yield f'frame_{index:06d}', frame
                index += 1
        finally:
            capture.release()
        if index == 0:
            raise InputError(f'cannot read video {self.path}: no frame decodes')


def open_media(path: str) -> MediaSource:
    """The frames of ``path``: an image file, a folder of images (sorted by name, sub-folders
    and other files ignored) or a ``.mp4`` / ``.avi`` video.

    Raises ``FileNotFoundError`` for a missing path and :class:`InputError` for an image or video
    OpenCV cannot decode, an unknown extension or a folder without images, each naming the
    file. Videos are opened and their first frame decoded here; images are decoded here (one
    file) or as they come (folders).

    Example:
        >>> import tempfile, os.path as osp, numpy as np, cv2
        >>> folder = tempfile.mkdtemp()
        >>> _ = cv2.imwrite(osp.join(folder, 'a.png'), np.zeros((4, 6, 3), np.uint8))
        >>> source = open_media(folder)
        >>> source.kind, len(source), [f.shape for _, f in source]
        ('folder', 1, [(4, 6, 3)])
    """
    if osp.isdir(path):
        files = sorted(osp.join(path, f) for f in os.listdir(path)
                       if _ext(f) in IMAGE_EXTS and osp.isfile(osp.join(path, f)))
        if not files:
            raise InputError(f'no images ({", ".join(IMAGE_EXTS)}) in folder {path}')
        return MediaSource(path, 'folder', files)
    if not osp.exists(path):
        raise FileNotFoundError(f'input not found: {path}')
    ext = _ext(path)
    if ext in IMAGE_EXTS:
        read_image(path)
        return MediaSource(path, 'image', [path])
    if ext in VIDEO_EXTS:
        capture = cv2.VideoCapture(path)
        try:
            ok = capture.isOpened() and capture.read()[0]
            fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
            count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        finally:
            capture.release()
        if not ok:
            raise InputError(f'cannot read video {path}: OpenCV does not decode its first frame')
        return MediaSource(path, 'video', fps=fps, num_frames=max(count, 0))
    raise InputError(f'input {path}: unknown kind {ext!r}; give an image '
                     f'({", ".join(IMAGE_EXTS)}), a folder of images or a video '
                     f'({", ".join(VIDEO_EXTS)})')


def check_output(out: str, kind: str) -> None:
    """:class:`InputError` when ``out`` cannot hold the output of a ``kind`` source: an image needs
    an image file name, a video a ``.mp4`` / ``.avi`` name, a folder a path that is no file."""
    ext = _ext(out)
    if kind == 'image' and ext not in IMAGE_EXTS:
        raise InputError(f'--out {out}: an image input writes an image; end the name with one '
                         f'of {", ".join(IMAGE_EXTS)}')
    if kind == 'video' and ext not in VIDEO_EXTS:
        raise InputError(f'--out {out}: a video input writes a video; end the name with one '
                         f'of {", ".join(VIDEO_EXTS)}')
    if kind == 'folder' and osp.isfile(out):
        raise InputError(f'--out {out}: a folder input writes a folder, and this is a file')


def default_output(source: MediaSource) -> str:
    """``demo_result.jpg`` / ``demo_result/`` / ``demo_result.mp4`` by the kind of input (the
    image's or video's own extension)."""
    if source.kind == 'folder':
        return 'demo_result'
    return 'demo_result' + _ext(source.path)


class MediaWriter:
    """Writes annotated frames of one source to a temporary file or folder; :meth:`commit`
    renames it onto the output, :meth:`discard` removes it (see :func:`media_writer`)."""

    def __init__(self, out: str, source: MediaSource):
        check_output(out, source.kind)
        self.out = osp.abspath(out)
        self.kind = source.kind
        self.fps = source.fps
        self.frames = 0
        parent = osp.dirname(self.out)
        os.makedirs(parent, exist_ok=True)
        base = osp.basename(self.out.rstrip(os.sep))
        self._video = None
        if self.kind == 'folder':
            self._tmp = tempfile.mkdtemp(prefix=f'.{base}.', suffix='.tmp', dir=parent)
        elif self.kind == 'video':  # the extension picks the container
            fd, self._tmp = tempfile.mkstemp(prefix=f'.{base}.', suffix=_ext(out), dir=parent)
            os.close(fd)
        else:
            self._tmp = None

    def write(self, name: str, frame: np.ndarray) -> None:
        """Add one BGR frame (``name``: the input file name, used for folders)."""
        if self.kind == 'image':
            ok, data = cv2.imencode(_ext(self.out), frame)
            if not ok:
                raise OSError(f'cannot encode {self.out}')
            with atomic_path(self.out) as tmp:
                with open(tmp, 'wb') as f:
                    f.write(data.tobytes())
                _default_permissions(tmp)
        elif self.kind == 'folder':
            if not cv2.imwrite(osp.join(self._tmp, name), frame):
                raise OSError(f'cannot write {name} into {self._tmp}')
        else:
            if self._video is None:
                h, w = frame.shape[:2]
                fourcc = cv2.VideoWriter_fourcc(*FOURCC[_ext(self.out)])
                self._video = cv2.VideoWriter(self._tmp, fourcc, self.fps, (w, h))
                if not self._video.isOpened():
                    raise OSError(f'OpenCV cannot write {_ext(self.out)} video '
                                     f'({FOURCC[_ext(self.out)]}) to {self._tmp}')
            self._video.write(frame)
        self.frames += 1

    def commit(self) -> str:
        """Move the written output into place; return its path."""
        if self.frames == 0:
            self.discard()
            raise InputError(f'no frame was written, so {self.out} is not created')
        if self.kind == 'folder':
            os.makedirs(self.out, exist_ok=True)
            for f in sorted(os.listdir(self._tmp)):  # each file whole, one rename each
                os.replace(osp.join(self._tmp, f), osp.join(self.out, f))
            os.rmdir(self._tmp)
        elif self.kind == 'video':
            self._video.release()
            _default_permissions(self._tmp)
            os.replace(self._tmp, self.out)
        return self.out

    def discard(self) -> None:
        """Remove whatever was written (nothing appears under the output's name)."""
        if self._video is not None:
            self._video.release()
        if self._tmp is not None and osp.isdir(self._tmp):
            shutil.rmtree(self._tmp, ignore_errors=True)
        elif self._tmp is not None and osp.exists(self._tmp):
            os.remove(self._tmp)

    def __enter__(self) -> 'MediaWriter':
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def media_writer(out: str, source: MediaSource) -> MediaWriter:
    """A writer for the annotated frames of ``source`` (use it as a context manager: the
    output appears when the block ends without an error, and not at all otherwise).

    Args:
        out (str): An image file (image input), a folder (folder input: one file per input
            file, same names) or a ``.mp4`` / ``.avi`` file (video input: same frame rate).
        source (MediaSource): What the frames come from (:func:`open_media`).
    """
    return MediaWriter(out, source)
