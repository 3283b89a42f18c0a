"""Where the tools' CHECKPOINT argument points: a local file, or a zoo URL (downloaded once into
torch's hub cache, as mmengine does), checked before anything is built.

Example::

    from hrnet_mm.apis.checkpoints import resolve_checkpoint
    resolve_checkpoint('work_dirs/pp_tinypose/pp_tinypose_256x192.pth')   # the path itself
    resolve_checkpoint('https://download.openmmlab.com/mmpose/.../x.pth')  # the cached file
"""
import os
import os.path as osp
from urllib.parse import urlparse


def is_url(path: str) -> bool:
    """Whether ``path`` is an http(s) URL."""
    return urlparse(str(path)).scheme in ('http', 'https')


def hub_checkpoint_path(url: str) -> str:
    """Where torch's hub cache keeps (or will keep) the file of ``url``."""
    import torch.hub
    name = osp.basename(urlparse(url).path)
    return osp.join(torch.hub.get_dir(), 'checkpoints', name)


def resolve_checkpoint(path: str, timeout: float = 30.0) -> str:
    """The local file of a checkpoint path or URL; a URL not yet cached is downloaded now.

    Args:
        path (str): A file path, or an ``http(s)://`` URL (the mm model zoos').
        timeout (float): Seconds to wait for the server to answer.

    Raises:
        FileNotFoundError: a local path that does not exist.
        RuntimeError: a URL that cannot be downloaded; the message names it and where to put
            the file by hand on a machine without internet.
    """
    if not is_url(path):
        if not osp.isfile(path):
            raise FileNotFoundError(f'checkpoint not found: {path}')
        return path
    cached = hub_checkpoint_path(path)
    if osp.isfile(cached):
        return cached
    import urllib.request

    from ..fileio import atomic_path
    os.makedirs(osp.dirname(cached), exist_ok=True)
    try:
        with urllib.request.urlopen(path, timeout=timeout) as response, \
                atomic_path(cached) as tmp:
            with open(tmp, 'wb') as f:
                while True:
                    chunk = response.read(1 << 20)
                    if not chunk:
                        break
                    f.write(chunk)
    except OSError as e:  # URLError, HTTPError, timeouts, connection refused
        reason = getattr(e, 'reason', e)
        raise RuntimeError(f'cannot download the checkpoint {path}: {reason}. Without '
                           f'internet, download it elsewhere and pass the local file (or put '
                           f'it at {cached})') from None
    return cached
