"""Prompt files of every format, written for real next to real images, and their checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mamcli.errors import InputError
from mamcli.imaging.read import load_rgb
from mamcli.matte.inputs import find_images
from mamcli.prompts.checks import safe_id
from mamcli.prompts.sources import MAX_PROMPT_FILE_BYTES, PromptSources, normalise_key
from mamcli.results import ImageItem

WIDTH, HEIGHT = 200, 100
BOX = (20.0, 10.0, 120.0, 60.0)  # the same box, written in each format below


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    for rel in ("a.jpg", "sub/b.png"):
        Image.new("RGB", (WIDTH, HEIGHT), (90, 120, 150)).save(folder / rel)
    return folder


def _item(photos: Path, rel: str = "a.jpg") -> ImageItem:
    return next(item for item in find_images([photos]) if str(item.rel) == rel)


def _write_json(path: Path, doc: object) -> Path:
    path.write_text(json.dumps(doc))
    return path


def _coco_doc(**image) -> dict:
    return {
        "images": [{"id": 1, "file_name": "a.jpg", "width": WIDTH, "height": HEIGHT, **image}],
        "annotations": [{"id": 7, "image_id": 1, "category_id": 1, "bbox": [20, 10, 100, 50]}],
        "categories": [{"id": 1, "name": "cat"}],
    }


def _labelme_doc(corners=((120, 60), (20, 10)), width=WIDTH, height=HEIGHT) -> dict:
    rectangle = {"label": "cat", "shape_type": "rectangle", "points": [list(c) for c in corners]}
    return {"shapes": [rectangle], "imageWidth": width, "imageHeight": height}


def _voc_xml(width=WIDTH, height=HEIGHT, objects=(("cat", (21, 11, 120, 60)),)) -> str:
    body = "".join(
        f"<object><name>{name}</name><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin>"
        f"<xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"
        for name, (x0, y0, x1, y1) in objects
    )
    return (
        f"<annotation><filename>a.jpg</filename><size><width>{width}</width>"
        f"<height>{height}</height><depth>3</depth></size>{body}</annotation>"
    )


def _prompts(sources: PromptSources, photos: Path, rel: str = "a.jpg"):
    return sources.load().prompts_for(_item(photos, rel), (WIDTH, HEIGHT))


def _boxes(prompt_set) -> list[tuple[float, ...]]:
    return [instance.box for instance in prompt_set.instances]


# --- every format, the same box -----------------------------------------------------


def _sidecar(photos: Path, tmp: Path) -> PromptSources:
    _write_json(photos / "a.json", [{"box": list(BOX)}])
    return PromptSources()


def _boxes_by(key: str):
    def make(photos: Path, tmp: Path) -> PromptSources:
        return PromptSources(boxes_file=_write_json(tmp / "boxes.json", {key: [list(BOX)]}))

    return make


def _coco(photos: Path, tmp: Path) -> PromptSources:
    return PromptSources(coco_file=_write_json(tmp / "ann.json", _coco_doc()))


def _labelme(photos: Path, tmp: Path) -> PromptSources:
    _write_json(photos / "a.json", _labelme_doc())
    return PromptSources()


def _yolo(photos: Path, tmp: Path) -> PromptSources:
    (photos / "a.txt").write_text("0 0.35 0.35 0.5 0.5\n")
    return PromptSources()


def _voc(photos: Path, tmp: Path) -> PromptSources:
    (photos / "a.xml").write_text(_voc_xml())
    return PromptSources()


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (_sidecar, "sidecar"),
        (_boxes_by("a.jpg"), "boxes"),
        (_boxes_by("a"), "boxes"),
        (_boxes_by("./a.jpg"), "boxes"),
        (_coco, "coco"),
        (_labelme, "labelme"),
        (_yolo, "yolo"),
        (_voc, "voc"),
    ],
)
def test_each_format_gives_the_same_box(photos: Path, tmp_path: Path, make, kind: str) -> None:
    prompt_set = _prompts(make(photos, tmp_path), photos)
    assert prompt_set.source.startswith(f"{kind}:")
    assert len(prompt_set.instances) == 1
    assert prompt_set.instances[0].box == pytest.approx(BOX)
    assert prompt_set.warnings == []
    assert _prompts(make(photos, tmp_path), photos, "sub/b.png") is None


def test_boxes_key_by_relative_path_beats_name_and_stem(photos: Path, tmp_path: Path) -> None:
    doc = {"sub/b.png": [[1, 1, 5, 5]], "b.png": [[2, 2, 6, 6]], "b": [[3, 3, 7, 7]]}
    sources = PromptSources(boxes_file=_write_json(tmp_path / "boxes.json", doc))
    assert _boxes(_prompts(sources, photos, "sub/b.png")) == [(1, 1, 5, 5)]
    assert _prompts(sources, photos) is None
    assert sources.unmatched(find_images([photos])) == ["b.png", "b"]


# --- first match wins ---------------------------------------------------------------


def test_first_match_wins_in_the_documented_order(photos: Path, tmp_path: Path) -> None:
    """Files named on the command line, then sidecars, then the folder's boxes.json."""
    sidecar = _write_json(photos / "a.json", [[1, 1, 11, 11]])
    boxes = _write_json(tmp_path / "boxes.json", {"a.jpg": [[2, 2, 12, 12]]})
    folder_boxes = _write_json(photos / "boxes.json", {"a.jpg": [[7, 7, 17, 17]]})
    coco_doc = _coco_doc()
    coco_doc["annotations"][0]["bbox"] = [3, 3, 10, 10]
    coco = _write_json(tmp_path / "ann.json", coco_doc)
    (photos / "a.txt").write_text("0 0.1 0.1 0.02 0.04\n")  # [18, 8, 22, 12]
    (photos / "a.xml").write_text(_voc_xml(objects=(("cat", (6, 6, 15, 15)),)))

    def first() -> tuple[str, list]:
        sources = PromptSources(
            boxes_file=boxes if boxes.exists() else None,
            coco_file=coco if coco.exists() else None,
        ).load([photos])
        prompt_set = _prompts(sources, photos)
        if prompt_set is None:
            return ("none", [])
        return (prompt_set.source.split(":")[0], [tuple(b) for b in _boxes(prompt_set)])

    assert first() == ("boxes", [(2, 2, 12, 12)])  # --boxes beats the sidecar
    boxes.unlink()
    assert first() == ("coco", [(3, 3, 13, 13)])
    coco.unlink()
    assert first() == ("sidecar", [(1, 1, 11, 11)])  # the sidecar beats the folder's file
    _write_json(sidecar, _labelme_doc(corners=((4, 4), (14, 14))))
    assert first() == ("boxes", [(7, 7, 17, 17)])  # the folder's boxes.json beats LabelMe
    folder_boxes.unlink()
    assert first() == ("labelme", [(4, 4, 14, 14)])
    sidecar.unlink()
    assert first()[0] == "yolo"
    assert first()[1][0] == pytest.approx((18, 8, 22, 12))
    (photos / "a.txt").unlink()
    assert first() == ("voc", [(5, 5, 15, 15)])
    (photos / "a.xml").unlink()
    assert first() == ("none", [])


def test_identity_changes_with_the_winning_entry_only(photos: Path, tmp_path: Path) -> None:
    item = _item(photos)
    boxes = _write_json(tmp_path / "boxes.json", {"a.jpg": [[2, 2, 12, 12]], "b": [[1, 1, 5, 5]]})
    first = PromptSources(boxes_file=boxes).identity(item)
    _write_json(boxes, {"a.jpg": [[2, 2, 12, 12]], "b": [[1, 1, 6, 6]]})
    assert PromptSources(boxes_file=boxes).identity(item) == first  # another image's entry
    _write_json(boxes, {"a.jpg": [[2, 2, 13, 12]]})
    assert PromptSources(boxes_file=boxes).identity(item) != first
    assert PromptSources().identity(item) == "none"
    _write_json(photos / "a.json", [[1, 1, 11, 11]])
    assert PromptSources().identity(item).startswith("sidecar:")


def test_a_matching_source_wins_even_when_filters_empty_it(photos: Path) -> None:
    (photos / "a.txt").write_text("3 0.5 0.5 0.2 0.2 0.1\n")
    (photos / "a.xml").write_text(_voc_xml())
    prompt_set = _prompts(PromptSources(min_score=0.5), photos)
    assert prompt_set.source.startswith("yolo:") and prompt_set.instances == []


def test_sidecars_can_be_switched_off(photos: Path) -> None:
    _write_json(photos / "a.json", [[1, 1, 11, 11]])
    (photos / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    assert _prompts(PromptSources(use_sidecars=False), photos) is None


# --- mam's own schema ---------------------------------------------------------------


def test_mam_plain_forms_and_instances(photos: Path, tmp_path: Path) -> None:
    doc = {
        "a.jpg": [10, 20, 30, 40],
        "sub/b.png": {
            "instances": [
                [1, 2, 3, 4],
                {"id": 5, "points": [[10, 10], [50, 50]], "labels": [1, 0]},
                {"text": "the dog", "points": [[7, 8]]},
            ]
        },
    }
    sources = PromptSources(boxes_file=_write_json(tmp_path / "boxes.json", doc))
    assert _boxes(_prompts(sources, photos)) == [(10, 20, 30, 40)]
    first, second, third = _prompts(sources, photos, "sub/b.png").instances
    assert (first.id, first.box) == ("0", (1, 2, 3, 4))
    assert (second.id, second.box, second.points) == ("5", None, [(10, 10), (50, 50)])
    assert second.point_labels == [1, 0]
    assert (third.id, third.text, third.point_labels) == ("1", "the dog", [1])


def test_ids_are_made_safe_and_unique(photos: Path) -> None:
    instances = [
        {"id": "../../x", "box": [1, 1, 5, 5]},
        {"box": [1, 1, 5, 5]},
        {"id": "0", "box": [1, 1, 5, 5]},
        {"id": "a b/c", "box": [1, 1, 5, 5]},
    ]
    _write_json(photos / "a.json", instances)
    prompt_set = _prompts(PromptSources(), photos)
    assert [i.id for i in prompt_set.instances] == ["____x", "1", "0", "a_b_c"]
    assert any("'../../x' used as '____x'" in w for w in prompt_set.warnings)
    _write_json(
        photos / "a.json", [{"id": "a/b", "box": [1, 1, 5, 5]}, {"id": "a_b", "box": [1, 1, 5, 5]}]
    )
    with pytest.raises(InputError, match="duplicate id 'a_b'"):
        _prompts(PromptSources(), photos)


def test_safe_id_rules() -> None:
    assert safe_id("..") == "_"
    assert safe_id("a...b") == "a_b"
    assert safe_id(".hidden") == "_hidden"
    assert safe_id("chat-noir_2.v1") == "chat-noir_2.v1"
    assert safe_id("C:\\evil") == "C__evil"
    assert safe_id("nul") == "nul_"
    assert safe_id("chat/noir") == "chat_noir"
    assert len(safe_id("x" * 500)) == 64


def test_unknown_keys_are_warned_not_fatal(photos: Path) -> None:
    _write_json(photos / "a.json", {"instances": [{"box": [1, 1, 5, 5], "colour": "red"}], "v": 2})
    prompt_set = _prompts(PromptSources(), photos)
    assert _boxes(prompt_set) == [(1, 1, 5, 5)]
    assert len(prompt_set.warnings) == 2
    assert any("unknown key 'colour'" in w for w in prompt_set.warnings)
    assert all(str(photos / "a.json") in w for w in prompt_set.warnings)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            [[1, 1, 5, 5], [30, 10, 20, 40]],
            r"instance 1 \(id '1'\): box \[30, 10, 20, 40\] is empty",
        ),
        ([[10, 10, 10, 40]], "is empty or inverted"),
        ([[300, 10, 400, 40]], "lies entirely outside the 200 x 100 image"),
        ([{"points": [[250, 10]]}], r"point \(250, 10\) is outside the 200 x 100 image"),
        ([{"points": [[5, 5]], "labels": [1, 1]}], "expected a list of 1 labels"),
        ([{"points": [[5, 5]], "labels": [2]}], "must be 1 .foreground. or 0"),
        ([{"id": "x"}], "has no box, points or text"),
        ([{"box": [1, 2, 3]}], r"expected \[x0, y0, x1, y1\]"),
        ([{"box": [1, 2, "3", 4]}], "expected a number"),
        ([{"box": [1, 2, True, 4]}], "expected a number"),
        ([{"id": 1.5, "box": [1, 2, 3, 4]}], "expected a string or an integer"),
        ({"boxes": []}, "expected a list"),
    ],
)
def test_bad_instances_are_errors_naming_file_and_instance(photos: Path, doc, message) -> None:
    _write_json(photos / "a.json", doc)
    with pytest.raises(InputError, match=message) as err:
        _prompts(PromptSources(), photos)
    assert err.value.path == str(photos / "a.json")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_errors(photos: Path, tmp_path: Path, literal: str) -> None:
    (tmp_path / "boxes.json").write_text('{"a.jpg": [[1, 2, LIT, 4]]}'.replace("LIT", literal))
    sources = PromptSources(boxes_file=tmp_path / "boxes.json")
    with pytest.raises(InputError, match="non-finite number") as err:
        _prompts(sources, photos)
    assert err.value.path == str(tmp_path / "boxes.json")
    assert "image a.jpg: instance 0: box" in err.value.problem


def test_boxes_partly_outside_are_clipped_with_a_warning(photos: Path) -> None:
    _write_json(photos / "a.json", [{"id": "cat", "box": [-10, 5, 250, 60]}])
    prompt_set = _prompts(PromptSources(), photos)
    assert _boxes(prompt_set) == [(0, 5, 200, 60)]
    assert len(prompt_set.warnings) == 1
    assert "instance 0 (id 'cat')" in prompt_set.warnings[0]
    assert "clipped to the image: [0, 5, 200, 60]" in prompt_set.warnings[0]


def test_invalid_json_names_the_line(photos: Path) -> None:
    (photos / "a.json").write_text("[\n  [1, 2, 3, 4],\n  oops\n]")
    with pytest.raises(InputError, match=r"invalid JSON: .*line 3"):
        _prompts(PromptSources(), photos)


def test_json_sidecar_of_unknown_kind_is_an_error(photos: Path) -> None:
    _write_json(photos / "a.json", {"camera": "x100"})
    with pytest.raises(InputError, match=r'"instances"'):
        _prompts(PromptSources(), photos)


# --- keys of --boxes ----------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["../../etc/x.jpg", "/etc/x.jpg", "sub/../../a.jpg", "C:\\photos\\a.jpg", "~/a.jpg", ""]
)
def test_boxes_keys_outside_the_root_are_rejected(photos: Path, tmp_path: Path, key) -> None:
    doc = {"a.jpg": [[1, 1, 5, 5]], key: [[1, 1, 5, 5]]}
    sources = PromptSources(boxes_file=_write_json(tmp_path / "boxes.json", doc))
    with pytest.raises(InputError) as err:
        sources.load()
    assert err.value.path == str(tmp_path / "boxes.json")
    assert f"key '{key}' points outside the input folder" in err.value.problem


def test_boxes_keys_normalise() -> None:
    assert normalise_key("./sub//a.jpg") == "sub/a.jpg"
    assert normalise_key("sub\\a.jpg") == "sub/a.jpg"
    assert normalise_key("a..b.jpg") == "a..b.jpg"
    assert normalise_key("sub/../a.jpg") is None


def test_boxes_duplicate_keys_after_normalising(tmp_path: Path) -> None:
    doc = {"sub/a.jpg": [], "./sub/a.jpg": []}
    with pytest.raises(InputError, match="repeats another key"):
        PromptSources(boxes_file=_write_json(tmp_path / "boxes.json", doc)).load()


# --- YOLO ---------------------------------------------------------------------------


def test_yolo_normalised_boxes_scores_and_classes(photos: Path) -> None:
    (photos / "a.txt").write_text(
        "0 0.5 0.5 0.5 0.2 0.9\n\n2 0.25 0.75 0.1 0.5 0.30\n0 0.1 0.1 0.1 0.1\n"
    )
    everything = _prompts(PromptSources(), photos)
    assert _boxes(everything)[0] == pytest.approx((50, 40, 150, 60))
    assert _boxes(everything)[1] == pytest.approx((40, 50, 60, 100))
    assert len(everything.instances) == 3
    scored = _prompts(PromptSources(min_score=0.5), photos)  # lines without a score stay
    assert len(scored.instances) == 2
    assert _boxes(scored)[1] == pytest.approx((10, 5, 30, 15))
    class_two = _prompts(PromptSources(category="2"), photos)
    assert _boxes(class_two) == [pytest.approx((40, 50, 60, 100))]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0 50 40 100 20\n", "normalised to 0..1"),
        ("0 0.5 0.5 0.2\n", "5 or 6 numbers"),
        ("0 0.5 0.5 0.2 0.2\n1 0.5 nan 0.2 0.2\n", "line 2: .*non-finite number"),
        ("0.5 0.5 0.5 0.2 0.2\n", "class must be a whole number"),
        ("0 0.5 0.5 0 0.2\n", "is empty or inverted"),
    ],
)
def test_yolo_errors(photos: Path, text: str, message: str) -> None:
    (photos / "a.txt").write_text(text)
    with pytest.raises(InputError, match=message) as err:
        _prompts(PromptSources(), photos)
    assert err.value.path == str(photos / "a.txt")


def test_a_caption_txt_is_not_a_yolo_file(photos: Path) -> None:
    (photos / "a.txt").write_text("a cat sitting on a red sofa, 2 cushions\n")
    assert _prompts(PromptSources(), photos) is None


# --- Pascal VOC ---------------------------------------------------------------------


def test_voc_one_based_inclusive_to_pixel_corners(photos: Path) -> None:
    objects = (("cat", (1, 1, 200, 100)), ("dog", (11, 21, 11, 30)))
    (photos / "a.xml").write_text(_voc_xml(objects=objects))
    prompt_set = _prompts(PromptSources(), photos)
    assert _boxes(prompt_set) == [(0, 0, 200, 100), (10, 20, 11, 30)]  # 1-px-wide box
    assert prompt_set.warnings == []  # the full-image box is not "outside"
    dogs = _prompts(PromptSources(category="dog"), photos)
    assert _boxes(dogs) == [(10, 20, 11, 30)]


def test_voc_size_zero_means_unknown_and_other_xml_is_not_voc(photos: Path) -> None:
    (photos / "a.xml").write_text(_voc_xml(width=0, height=0))
    assert _boxes(_prompts(PromptSources(), photos)) == [BOX]
    (photos / "a.xml").write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    assert _prompts(PromptSources(), photos) is None
    (photos / "a.xml").write_text("<annotation><object>")
    with pytest.raises(InputError, match="invalid XML"):
        _prompts(PromptSources(), photos)


# --- LabelMe ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "corners",
    [((20, 10), (120, 60)), ((120, 60), (20, 10)), ((20, 60), (120, 10)), ((120, 10), (20, 60))],
)
def test_labelme_rectangle_corners_in_any_order(photos: Path, corners) -> None:
    _write_json(photos / "a.json", _labelme_doc(corners=corners))
    assert _boxes(_prompts(PromptSources(), photos)) == [BOX]


def test_labelme_points_groups_and_ignored_shapes(photos: Path) -> None:
    shapes = [
        {"label": "cat", "shape_type": "rectangle", "points": [[0, 0], [50, 50]], "group_id": 3},
        {"label": "cat", "shape_type": "point", "points": [[25, 25]], "group_id": 3},
        {"label": "BG", "shape_type": "point", "points": [[45, 45]], "group_id": 3},
        {"label": "dog", "shape_type": "point", "points": [[150, 50]]},
        {"label": "background", "shape_type": "point", "points": [[190, 90]]},
        {"label": "dog", "shape_type": "polygon", "points": [[1, 1], [9, 1], [9, 9]]},
        {"label": "dog", "shape_type": "rectangle", "points": [[100, 0], [110, 10]]},
    ]
    _write_json(photos / "a.json", {"shapes": shapes, "imageWidth": WIDTH, "imageHeight": HEIGHT})
    prompt_set = _prompts(PromptSources(), photos)
    grouped, loose_points, box = prompt_set.instances
    assert grouped.box == (0, 0, 50, 50) and grouped.points == [(25, 25), (45, 45)]
    assert grouped.point_labels == [1, 0]
    assert loose_points.box is None and loose_points.point_labels == [1, 0]
    assert box.box == (100, 0, 110, 10) and box.points == []
    assert [i.id for i in prompt_set.instances] == ["0", "1", "2"]
    assert len(prompt_set.warnings) == 1 and "'polygon' shape ignored" in prompt_set.warnings[0]


# --- COCO ---------------------------------------------------------------------------


def _coco_many() -> dict:
    return {
        "images": [
            {"id": 1, "file_name": "images/a.jpg", "width": WIDTH, "height": HEIGHT},
            {"id": 2, "file_name": "sub/b.png", "width": WIDTH, "height": HEIGHT},
            {"id": 3, "file_name": "elsewhere/c.jpg", "width": 10, "height": 10},
        ],
        "annotations": [
            {"id": 11, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9},
            {"id": 12, "image_id": 1, "category_id": 2, "bbox": [5, 5, 10, 10], "score": 0.8},
            {"id": 13, "image_id": 1, "category_id": 1, "bbox": [9, 9, 10, 10], "score": 0.2},
            {"id": 14, "image_id": 1, "category_id": 1, "bbox": [0, 0, 90, 90], "iscrowd": 1},
            {"id": 15, "image_id": 2, "category_id": 2, "bbox": [1, 2, 3, 4]},
        ],
        "categories": [{"id": 1, "name": "person"}, {"id": 2, "name": "dog"}],
    }


def test_coco_matching_ids_crowds_and_filters(photos: Path, tmp_path: Path) -> None:
    coco = _write_json(tmp_path / "ann.json", _coco_many())
    everything = _prompts(PromptSources(coco_file=coco), photos)
    assert [i.id for i in everything.instances] == ["11", "12", "13"]
    assert any("iscrowd" in w for w in everything.warnings)
    people = _prompts(PromptSources(coco_file=coco, category="person"), photos)
    assert [i.id for i in people.instances] == ["11", "13"]
    by_id = _prompts(PromptSources(coco_file=coco, category="2", min_score=0.5), photos)
    assert [i.id for i in by_id.instances] == ["12"]
    confident = _prompts(PromptSources(coco_file=coco, min_score=0.5), photos)
    assert [i.id for i in confident.instances] == ["11", "12"]
    sources = PromptSources(coco_file=coco, min_score=0.5)
    unscored = _prompts(sources, photos, "sub/b.png")  # ground truth has no score: kept
    assert _boxes(unscored) == [(1, 2, 4, 6)]
    assert sources.unmatched(find_images([photos])) == ["elsewhere/c.jpg"]
    assert sources.unmatched([_item(photos, "sub/b.png")]) == ["elsewhere/c.jpg", "images/a.jpg"]


def test_coco_unknown_category_and_results_list(tmp_path: Path) -> None:
    coco = _write_json(tmp_path / "ann.json", _coco_many())
    with pytest.raises(InputError, match=r"no category 'cat' \(categories: dog, person\)"):
        PromptSources(coco_file=coco, category="cat").load()
    results = _write_json(tmp_path / "res.json", [{"image_id": 1, "bbox": [0, 0, 1, 1]}])
    with pytest.raises(InputError, match="results list"):
        PromptSources(coco_file=results).load()


def test_coco_same_name_in_two_folders_is_ambiguous(photos: Path, tmp_path: Path) -> None:
    doc = _coco_many()
    doc["images"][2]["file_name"] = "other/a.jpg"
    coco = _write_json(tmp_path / "ann.json", doc)
    with pytest.raises(InputError, match="matches several: images/a.jpg, other/a.jpg"):
        _prompts(PromptSources(coco_file=coco), photos)


# --- declared image sizes -----------------------------------------------------------


def _exif_rotated(photos: Path) -> tuple[ImageItem, tuple[int, int]]:
    """c.jpg stored 200 x 100 with EXIF orientation 6: displayed 100 x 200."""
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (WIDTH, HEIGHT)).save(photos / "c.jpg", exif=exif.tobytes())
    height, width = load_rgb(photos / "c.jpg").rgb.shape[:2]
    return _item(photos, "c.jpg"), (width, height)


def test_size_mismatch_names_the_file_and_both_sizes(photos: Path, tmp_path: Path) -> None:
    item, size = _exif_rotated(photos)
    assert size == (HEIGHT, WIDTH)
    _write_json(photos / "c.json", _labelme_doc())  # made on the unrotated 200 x 100 pixels
    with pytest.raises(InputError) as err:
        PromptSources().prompts_for(item, size)
    assert err.value.path == str(photos / "c.json")
    assert "declares image size 200 x 100 but the image is 100 x 200" in err.value.problem
    assert "EXIF" in err.value.problem
    _write_json(
        photos / "c.json", _labelme_doc(corners=((10, 20), (60, 120)), width=100, height=200)
    )
    assert _boxes(PromptSources().prompts_for(item, size)) == [(10, 20, 60, 120)]


@pytest.mark.parametrize("kind", ["coco", "voc"])
def test_size_mismatch_coco_and_voc(photos: Path, tmp_path: Path, kind: str) -> None:
    if kind == "coco":
        file = _write_json(tmp_path / "ann.json", _coco_doc(width=640, height=480))
        sources = PromptSources(coco_file=file)
    else:
        file = photos / "a.xml"
        file.write_text(_voc_xml(width=640, height=480))
        sources = PromptSources()
    with pytest.raises(
        InputError, match="declares image size 640 x 480 but the image is 200 x 100"
    ):
        _prompts(sources, photos)
    with pytest.raises(InputError) as err:
        _prompts(sources, photos)
    assert err.value.path == str(file)


# --- the JSON schema ----------------------------------------------------------------


SCHEMA_PATH = Path(__file__).parents[2] / "mamcli" / "prompts" / "prompts.schema.json"

VALID_SIDECARS = [
    [10, 20, 110, 90],
    [[10, 20, 110, 90], [0, 0, 5, 5]],
    [{"id": "cat", "box": [10, 20, 110, 90]}, {"points": [[50, 50], [5, 5]], "labels": [1, 0]}],
    {"instances": [{"id": 3, "text": "the white dog"}]},
    [],
]
INVALID_SIDECARS = [
    [10, 20, 110],
    [{"id": "cat"}],
    [{"box": [1, 2, 3, 4], "labels": [1]}],
    [{"points": [[1, 2, 3]]}],
    [{"points": [[1, 2]], "labels": [2]}],
    [{"text": ""}],
    {"boxes": [[1, 2, 3, 4]]},
    "a.jpg",
]


def _validator(definition: str):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator({**schema, "$ref": f"#/$defs/{definition}"})


@pytest.mark.parametrize("doc", VALID_SIDECARS)
def test_schema_and_loader_accept_valid_sidecars(photos: Path, doc) -> None:
    _validator("promptSet").validate(doc)
    _write_json(photos / "a.json", doc)
    assert _prompts(PromptSources(), photos).source.startswith("sidecar:")


@pytest.mark.parametrize("doc", INVALID_SIDECARS)
def test_schema_and_loader_reject_invalid_sidecars(photos: Path, doc) -> None:
    assert not _validator("promptSet").is_valid(doc)
    _write_json(photos / "a.json", doc)
    with pytest.raises(InputError):
        _prompts(PromptSources(), photos)


def test_schema_boxes_file_keys(photos: Path, tmp_path: Path) -> None:
    validator = _validator("boxesFile")
    good = {"a.jpg": [[1, 2, 3, 4]], "sub/b": {"instances": [{"text": "cat"}]}, "c": [1, 2, 3, 4]}
    validator.validate(good)
    PromptSources(boxes_file=_write_json(tmp_path / "boxes.json", good)).load()
    for key in ["../x.jpg", "/etc/x.jpg", "sub/../../x.jpg", "C:/x.jpg", ""]:
        assert not validator.is_valid({key: []}), key
        assert normalise_key(key) is None, key


def test_whole_schema_accepts_both_kinds() -> None:
    validator = _validator("promptSet")
    schema = json.loads(SCHEMA_PATH.read_text())
    whole = type(validator)(schema)
    assert whole.is_valid({"a.jpg": [[1, 2, 3, 4]]})
    assert whole.is_valid([[1, 2, 3, 4]])
    assert not whole.is_valid(42)


def test_loaded_arrays_and_prompts_share_one_size_convention(photos: Path) -> None:
    """prompts_for takes (width, height) = (array columns, array rows)."""
    rgb = load_rgb(photos / "a.jpg").rgb
    size = (rgb.shape[1], rgb.shape[0])
    _write_json(photos / "a.json", [[0, 0, WIDTH, HEIGHT]])
    prompt_set = PromptSources().prompts_for(_item(photos), size)
    assert prompt_set.warnings == [] and np.isclose(prompt_set.instances[0].box[2], WIDTH)


def test_deeply_nested_json_is_one_line(photos: Path, tmp_path: Path) -> None:
    (tmp_path / "boxes.json").write_text("[" * 5000 + "]" * 5000)
    with pytest.raises(InputError, match="JSON nested too deeply") as err:
        PromptSources(boxes_file=tmp_path / "boxes.json").load()
    assert err.value.path == str(tmp_path / "boxes.json")


def test_a_prompt_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    huge = tmp_path / "boxes.json"
    with huge.open("wb") as handle:  # sparse: takes no disk space, reads as zeros
        handle.truncate(MAX_PROMPT_FILE_BYTES + 1)
    with pytest.raises(InputError, match="over the 256 MB prompt-file limit"):
        PromptSources(boxes_file=huge).load()


def test_a_huge_bad_value_is_shown_cut_short(photos: Path, tmp_path: Path) -> None:
    nested = "[" * 500 + "]" * 500
    (tmp_path / "boxes.json").write_text('{"a.jpg": [' + nested + "]}")
    with pytest.raises(InputError, match=r"expected \[x0, y0, x1, y1\]") as err:
        _prompts(PromptSources(boxes_file=tmp_path / "boxes.json"), photos)
    shown = err.value.problem.split(", got ")[1]
    assert len(shown) == 80 and shown.endswith("...")


def test_coco_annotations_of_unknown_images_are_an_error(tmp_path: Path) -> None:
    doc = _coco_doc()
    doc["annotations"][0]["image_id"] = 999
    coco = _write_json(tmp_path / "ann.json", doc)
    with pytest.raises(InputError, match="image_id 999 is not in 'images'"):
        PromptSources(coco_file=coco).load()


def test_unmatched_lists_every_name_even_for_a_huge_file(photos: Path, tmp_path: Path) -> None:
    keys = {f"k{i}.png": [[1, 1, 5, 5]] for i in range(100_000)} | {"a.jpg": [list(BOX)]}
    sources = PromptSources(boxes_file=_write_json(tmp_path / "boxes.json", keys)).load()
    unmatched = sources.unmatched(find_images([photos]))
    assert len(unmatched) == 100_000 and "a.jpg" not in unmatched and unmatched[0] == "k0.png"
