"""Checkpoint registry and downloads, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib

import pytest

from mamcli.errors import InputError, MamError, NetworkError
from mamcli.hub.config import DownloadConfig
from mamcli.hub.weights import (
    REGISTRY,
    WeightSpec,
    cached_path,
    download,
    find_weights,
    get_weight,
    resolve_checkpoint,
    sources,
)
from tests.hub.server import BIG, GOOD, GOOD_SHA, cache_files, closed_port

UNRESOLVABLE = "http://nonexistent.invalid/sam.pth"  # .invalid never resolves (RFC 2606)


def _spec(url: str, sha256: str | None = GOOD_SHA) -> WeightSpec:
    return WeightSpec("test_sam", "sam", "vit_b", "test_sam.pth", (url,), sha256)


def _network_error(call) -> str:
    with pytest.raises(NetworkError) as info:
        call()
    message = str(info.value)
    assert info.value.exit_code == 4 and "\n" not in message
    return message


def test_registry_entries_and_unknown_name():
    sam_b = get_weight("sam_vit_b")
    assert (sam_b.kind, sam_b.model, sam_b.filename) == ("sam", "vit_b", "sam_vit_b_01ec64.pth")
    assert sam_b.urls[0] == "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth"
    assert all(
        len(REGISTRY[n].sha256) == 64 for n in ("sam_vit_l", "sam_vit_h", "mobile_sam_vit_t")
    )
    assert get_weight("mam_vit_b").sha256 is None
    assert get_weight("mam_vit_b").urls == ("hf://zhengchong/Human-Toolkit/MAM/mam_vitb.pth",)
    with pytest.raises(MamError) as info:
        get_weight("sam_vitb")
    message = str(info.value)
    assert message.startswith("unknown checkpoint sam_vitb (did you mean sam_vit_b?); known: ")
    assert "sam_vit_b, sam_vit_l, sam_vit_h, mobile_sam_vit_t" in message
    assert "[" not in message and "'" not in message


def test_cache_location_follows_mam_home(mam_home):
    assert cached_path("sam_vit_h") == mam_home / "checkpoints" / "sam_vit_h_4b8939.pth"


def test_good_file_is_cached_and_second_call_uses_cache(server, mam_home):
    server.files["/good.pth"] = (GOOD, "ok")
    spec = _spec(server.url("/good.pth"))
    path = download(DownloadConfig(spec, quiet=True))
    assert path == mam_home / "checkpoints" / "test_sam.pth"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == GOOD_SHA
    assert server.gets() == 1
    assert download(DownloadConfig(spec, quiet=True)) == path
    assert server.gets() == 1
    assert cache_files(mam_home) == ["test_sam.pth"]


def test_bad_hash_is_rejected_and_nothing_is_left(server, mam_home):
    server.files["/good.pth"] = (GOOD, "ok")
    with pytest.raises(MamError) as info:
        download(DownloadConfig(_spec(server.url("/good.pth"), sha256="0" * 64), quiet=True))
    message = str(info.value)
    assert "test_sam.pth" in message and "0" * 64 in message and GOOD_SHA in message
    assert "\n" not in message
    assert cache_files(mam_home) == []


@pytest.mark.parametrize("sha256", [GOOD_SHA, None])
def test_connection_closed_mid_file_is_not_retried_and_leaves_no_file(server, mam_home, sha256):
    server.files["/cut.pth"] = (BIG, "cut")
    url = server.url("/cut.pth")
    message = _network_error(lambda: download(DownloadConfig(_spec(url, sha256), quiet=True)))
    assert f"{url}: transfer cut off after {len(BIG) // 2} of {len(BIG)} bytes" in message
    assert server.gets() == 1
    assert cache_files(mam_home) == []


def test_http_error_is_one_line_and_not_retried(server, mam_home):
    url = server.url("/missing.pth")
    message = _network_error(lambda: download(DownloadConfig(_spec(url), quiet=True)))
    assert message.startswith(f"{url} answered HTTP 404 ")
    assert server.gets() == 1
    assert cache_files(mam_home) == []


def test_refused_connection_gives_offline_instructions(mam_home):
    port = closed_port()
    url = f"http://127.0.0.1:{port}/sam.pth"
    message = _network_error(lambda: download(DownloadConfig("sam_vit_b", url=url, quiet=True)))
    assert message == (
        f"cannot reach 127.0.0.1:{port} (connection refused): download sam_vit_b_01ec64.pth "
        "elsewhere and pass --sam-checkpoint FILE, or set MAM_MIRROR / --url"
    )
    assert cache_files(mam_home) == []


def test_unresolvable_hosts_are_named_once_with_the_fix(mam_home, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://nonexistent.invalid")
    spec = WeightSpec("m", "m2m", "vit_b", "m.pth", (UNRESOLVABLE, "hf://owner/repo/m.pth"))
    message = _network_error(lambda: download(DownloadConfig(spec, quiet=True)))
    assert message == (
        "cannot reach nonexistent.invalid (name does not resolve; no network?): download m.pth "
        "elsewhere and pass --m2m-checkpoint FILE, or set MAM_MIRROR / --url"
    )
    assert cache_files(mam_home) == []


def test_unreachable_hub_endpoint_fails_without_calling_the_hub(server, mam_home, monkeypatch):
    port = closed_port()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    message = _network_error(lambda: download(DownloadConfig(_spec("hf://o/r/f.pth"), quiet=True)))
    assert message.startswith(f"cannot reach 127.0.0.1:{port} (connection refused): ")
    assert cache_files(mam_home) == []


def test_unreachable_primary_falls_back_to_mirror(server, mam_home):
    server.files["/good.pth"] = (GOOD, "ok")
    dead = f"http://127.0.0.1:{closed_port()}/good.pth"
    spec = WeightSpec("t", "m2m", "vit_b", "t.pth", (dead, server.url("/good.pth")), GOOD_SHA)
    assert download(DownloadConfig(spec, quiet=True)).read_bytes() == GOOD
    assert server.gets() == 1


def test_environment_overrides_sources(server, monkeypatch):
    server.files["/mirror/mam_vitb.pth"] = (GOOD, "ok")
    monkeypatch.setenv("MAM_MIRROR", server.url("/mirror/"))
    assert sources("mam_vit_b") == [server.url("/mirror/mam_vitb.pth")]
    monkeypatch.setenv("MAM_WEIGHTS_URL_MAM_VIT_B", server.url("/named.pth"))
    assert sources("mam_vit_b") == [server.url("/named.pth")]
    assert sources("mam_vit_b", url="file:///x.pth") == ["file:///x.pth"]
    monkeypatch.delenv("MAM_WEIGHTS_URL_MAM_VIT_B")
    assert download(DownloadConfig("mam_vit_b", quiet=True)).read_bytes() == GOOD


def test_registry_hash_applies_to_overridden_source(server, mam_home):
    server.files["/fake.pth"] = (GOOD, "ok")
    with pytest.raises(MamError, match="wrong sha256 .*ec2df627"):
        download(DownloadConfig("sam_vit_b", url=server.url("/fake.pth"), quiet=True))
    assert cache_files(mam_home) == []


def test_file_url_installs_a_local_copy(tmp_path, mam_home):
    local = tmp_path / "offline_copy.pth"
    local.write_bytes(GOOD)
    path = download(DownloadConfig(_spec(local.as_uri()), quiet=True))
    assert path.read_bytes() == GOOD
    missing = tmp_path / "not_there.pth"
    message = _network_error(lambda: download(DownloadConfig(_spec(missing.as_uri()), force=True)))
    assert message.startswith(f"{missing}: no such file or directory: download test_sam.pth")


def test_hf_source_through_hf_endpoint(server, mam_home, monkeypatch):
    server.files["/owner/repo/resolve/main/MAM/file.pth"] = (GOOD, "ok")
    monkeypatch.setenv("HF_ENDPOINT", server.url(""))
    path = download(DownloadConfig(_spec("hf://owner/repo/MAM/file.pth"), quiet=True))
    assert path.read_bytes() == GOOD
    assert ("GET", "/owner/repo/resolve/main/MAM/file.pth") in server.requests
    assert cache_files(mam_home) == ["test_sam.pth"]  # no HF scratch cache left behind


def test_hf_source_with_bad_hash_leaves_nothing(server, mam_home, monkeypatch):
    server.files["/owner/repo/resolve/main/file.pth"] = (GOOD, "ok")
    monkeypatch.setenv("HF_ENDPOINT", server.url(""))
    with pytest.raises(MamError, match="wrong sha256"):
        download(DownloadConfig(_spec("hf://owner/repo/file.pth", sha256="f" * 64), quiet=True))
    assert cache_files(mam_home) == []


def test_hf_missing_file_is_one_line(server, mam_home, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", server.url(""))
    config = DownloadConfig(_spec("hf://owner/repo/nope.pth"), quiet=True)
    message = _network_error(lambda: download(config))
    assert message.startswith("hf://owner/repo/nope.pth: the Hub answered HTTP 404: download ")
    assert cache_files(mam_home) == []


def test_resolve_checkpoint_prefers_explicit_then_cache(tmp_path, mam_home):
    assert find_weights("vit_b") == (None, None)
    cached = cached_path("mam_vit_b")
    cached.parent.mkdir(parents=True)
    cached.write_bytes(GOOD)
    assert find_weights("vit_b") == (None, cached)
    assert resolve_checkpoint("m2m", "vit_h", None) is None
    explicit = tmp_path / "mine.pth"
    explicit.write_bytes(GOOD)
    assert resolve_checkpoint("m2m", "vit_b", explicit) == explicit
    with pytest.raises(InputError, match="missing.pth: checkpoint file not found"):
        resolve_checkpoint("sam", "vit_b", tmp_path / "missing.pth")
