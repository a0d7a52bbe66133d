"""Transfers: one source URL to one local file, with failures sorted into two kinds.

`Unreachable` means the host could not be contacted at all (its name does not resolve,
the connection is refused or times out): retrying cannot help, so nothing is retried and
the caller moves on at once. `TransferFailed` means the host answered but did not deliver
the file (an HTTP error, a connection cut mid-file). Plain http(s)/file URLs are fetched
once; hf:// sources go through huggingface_hub, whose own retries are kept for transfers
that started, after a direct connection check has shown the Hub is reachable.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import ssl
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from mamcli import __version__
from mamcli.hub.progress import Meter

HF_SCHEME = "hf://"
TIMEOUT_S = 30.0  # connect and per-read timeout: a stalled server fails instead of hanging
_CHUNK = 1 << 20


class Unreachable(Exception):
    """The host of a source could not be contacted; `host` and a short `reason`."""

    def __init__(self, host: str, reason: str) -> None:
        self.host = host
        self.reason = reason
        super().__init__(f"{host} ({reason})")


class TransferFailed(Exception):
    """The host answered but the file did not arrive whole; the message says why."""


def fetch(source: str, dest: Path, meter: Meter) -> None:
    """Write the file at `source` (http(s)://, file:// or hf://OWNER/REPO/PATH) to `dest`."""
    if source.startswith(HF_SCHEME):
        _fetch_hf(source, dest, meter)
    else:
        _fetch_url(source, dest, meter)


def host_of(url: str) -> str:
    """'host' or 'host:port' of a URL, for messages."""
    parts = urllib.parse.urlsplit(url)
    return parts.netloc.rsplit("@", 1)[-1] or url


def _fetch_url(url: str, dest: Path, meter: Meter) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": f"mam/{__version__}"})
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        raise TransferFailed(f"{url} answered HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise _connect_failure(url, exc.reason) from None
    except OSError as exc:  # a timeout or reset before the status line
        raise _connect_failure(url, exc) from None
    with response, dest.open("wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        meter.start(total)
        received = 0
        read = getattr(response, "read1", response.read)  # what has arrived, not a full chunk
        try:
            while block := read(_CHUNK):
                out.write(block)
                received += len(block)
                meter.advance(len(block))
        except OSError as exc:
            raise TransferFailed(f"{url}: connection lost after {received} bytes ({exc})") from None
    if total is not None and received != total:
        raise TransferFailed(f"{url}: transfer cut off after {received} of {total} bytes")


def _connect_failure(url: str, reason: object) -> Exception:
    """Sort a failure to open `url`: the host cannot be contacted, or something else."""
    if urllib.parse.urlsplit(url).scheme == "file":
        path = urllib.request.url2pathname(urllib.parse.urlsplit(url).path)
        problem = reason.strerror if isinstance(reason, OSError) and reason.strerror else reason
        return TransferFailed(f"{path}: {str(problem).lower()}")
    host = host_of(url)
    if isinstance(reason, socket.gaierror):
        return Unreachable(host, "name does not resolve; no network?")
    if isinstance(reason, ConnectionRefusedError):
        return Unreachable(host, "connection refused")
    if isinstance(reason, TimeoutError):
        return Unreachable(host, "timed out")
    if isinstance(reason, OSError) and not isinstance(reason, ssl.SSLError):
        return Unreachable(host, reason.strerror or type(reason).__name__)
    return TransferFailed(f"{url}: {reason}")


def _check_reachable(url: str) -> None:
    """Open (and close) a TCP connection to the host of `url`; Unreachable if that fails."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=TIMEOUT_S):
            pass
    except OSError as exc:
        raise _connect_failure(url, exc) from None


def _fetch_hf(source: str, dest: Path, meter: Meter) -> None:
    """hf://OWNER/REPO/PATH through huggingface_hub, into a private scratch cache beside
    `dest` so that nothing is left behind and no second copy is kept. Honours $HF_ENDPOINT,
    $HF_TOKEN and $HF_HUB_OFFLINE."""
    from huggingface_hub import constants, hf_hub_download  # slow import, only to download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    repo_id, filename = _split_hf(source)
    endpoint = (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")
    if constants.HF_HUB_OFFLINE:
        raise Unreachable(host_of(endpoint), "HF_HUB_OFFLINE is set")
    _check_reachable(endpoint)  # huggingface_hub would retry an unreachable host for ~25 s
    scratch = Path(tempfile.mkdtemp(prefix=f"{dest.name}.", dir=dest.parent))
    try:
        with _quiet_hf_logging():
            fetched = hf_hub_download(
                repo_id,
                filename,
                cache_dir=scratch,
                endpoint=endpoint,
                tqdm_class=_tqdm_feeding(meter),
            )
        os.replace(Path(fetched).resolve(), dest)
    except (HfHubHTTPError, LocalEntryNotFoundError) as exc:
        # A failed lookup arrives as LocalEntryNotFoundError, the HTTP answer as its cause.
        cause = exc if isinstance(exc, HfHubHTTPError) else exc.__cause__
        if isinstance(cause, HfHubHTTPError):
            status = getattr(cause.response, "status_code", None)
            raise TransferFailed(f"{source}: the Hub answered HTTP {status}") from None
        raise Unreachable(host_of(endpoint), "no answer from the Hub") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _split_hf(source: str) -> tuple[str, str]:
    parts = source.removeprefix(HF_SCHEME).split("/", 2)
    if len(parts) != 3 or not all(parts):
        raise TransferFailed(f"expected hf://OWNER/REPO/PATH, got {source}")
    return f"{parts[0]}/{parts[1]}", parts[2]


@contextlib.contextmanager
def _quiet_hf_logging() -> Iterator[None]:
    """Hide huggingface_hub's retry warnings: mam reports the outcome in one line."""
    from huggingface_hub.utils import logging as hf_logging

    before = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(before)


def _tqdm_feeding(meter: Meter) -> type:
    """A tqdm class for hf_hub_download that draws nothing itself and feeds `meter`."""
    from tqdm.auto import tqdm

    class _MeterTqdm(tqdm):
        def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)
            meter.start(kwargs.get("total"))
            meter.advance(int(kwargs.get("initial") or 0))

        def update(self, n: float | None = 1) -> bool | None:
            meter.advance(int(n or 0))
            return super().update(n)

    return _MeterTqdm
