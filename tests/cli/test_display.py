"""The live display in-process: thread-safe counting, the Ctrl-C note, the engine name."""

from __future__ import annotations

import io
import threading

from rich.console import Console

from mamcli.cli.display import LiveDisplay, Verbosity
from mamcli.matte.record import ImageRecord, Status


def _display(verbosity: Verbosity) -> tuple[LiveDisplay, io.StringIO]:
    out = io.StringIO()
    console = Console(file=out, highlight=False, soft_wrap=True, force_terminal=False)
    return LiveDisplay(verbosity, console), out


def test_image_done_from_many_threads_counts_every_image() -> None:
    display, out = _display(Verbosity.VERBOSE)
    display.started(800, "classic", "no SAM or M2M weights; to use MAM: ...")
    go = threading.Barrier(8)

    def worker(n: int) -> None:
        go.wait()
        for i in range(100):
            display.image_done(
                ImageRecord(input=f"x{n}_{i}", rel=f"x{n}_{i}.png", status=Status.OK)
            )

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = out.getvalue().splitlines()
    assert lines[0] == "engine: classic (no SAM or M2M weights; to use MAM: ...); 800 images"
    assert len(lines) == 801
    assert sorted(int(line.split("/")[0][1:]) for line in lines[1:]) == list(range(1, 801))


def test_interrupted_note_counts_finished_images() -> None:
    display, _ = _display(Verbosity.QUIET)
    display.started(20, "mam", "weights found")
    for i in range(7):
        display.image_done(ImageRecord(input=str(i), rel=f"{i}.png", status=Status.OK))
    assert display.engine == "mam"
    assert display.interrupted_note() == (
        "interrupted after 7 of 20 images; finished images are kept: "
        "run the same command again to resume"
    )


def test_quiet_prints_failures_only() -> None:
    display, out = _display(Verbosity.QUIET)
    display.started(2, "mam", "asked for")
    display.image_done(ImageRecord(input="a", rel="a.png", status=Status.OK))
    display.image_done(ImageRecord(input="b", rel="b.png").fail("b.png: [red]bad[/] data"))
    assert out.getvalue() == "failed b.png: [red]bad[/] data\n"


def test_warnings_of_finished_images_are_shown_as_they_come() -> None:
    display, out = _display(Verbosity.NORMAL)
    display.started(2, "mam", "asked for")
    record = ImageRecord(input="a", rel="a.png", status=Status.OK)
    record.warnings = ["boxes.json: box [0, 0, 900, 10] clipped to the image: [0, 0, 80, 10]"]
    display.image_done(record)
    display.image_done(ImageRecord(input="b", rel="b.png", status=Status.CACHED, warnings=["x"]))
    lines = out.getvalue().splitlines()
    assert "warning a.png: boxes.json: box [0, 0, 900, 10] clipped" in lines[1]
    assert not any("b.png" in line for line in lines)


def test_a_notice_is_one_line_and_quiet_hides_it() -> None:
    display, out = _display(Verbosity.NORMAL)
    display.started(2, "classic", "asked for")
    display.notice("waiting for [pymatting] to load")
    assert out.getvalue().splitlines()[1] == "waiting for [pymatting] to load"  # no markup
    quiet, out = _display(Verbosity.QUIET)
    quiet.notice("waiting")
    assert out.getvalue() == ""
