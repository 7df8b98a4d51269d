"""Tests of vidclass.data.catalog: every layout, every bad input, honest splits and the summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from vidclass.data.catalog import load_catalog
from vidclass.data.items import Catalog, VideoItem
from vidclass.data.splits import split_catalog
from vidclass.data.summary import describe
from vidclass.data.synthetic import write_video
from vidclass.errors import ConfigError, DatasetError, VideoReadError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
FIGHT_SURV = SHARED / "fight_surv"


def touch(root: Path, *names: str) -> list[Path]:
    """Empty placeholder files (enough wherever nothing is decoded)."""
    paths = []
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        paths.append(path)
    return paths


def write_csv(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- folder layouts ---------------------------------------------------------------------------


def test_folders_layout_labels_problems_and_ignored_files(tmp_path: Path) -> None:
    touch(tmp_path, "dog/a.mp4", "dog/b.AVI", "dog/sub/c.mkv", "cat/x.webm", "cat/y.MOV")
    touch(tmp_path, "dog/.hidden.mp4", "dog/notes.txt", ".cache/z.mp4", "__MACOSX/dog/._a.mp4", "cat/thumb.jpg")
    touch(tmp_path, "stray.mp4", "README.md")
    (tmp_path / "empty").mkdir()
    (tmp_path / "only_text").mkdir()
    touch(tmp_path, "only_text/readme.txt")

    catalog = load_catalog(tmp_path)

    assert catalog.source_format == "folders"
    assert catalog.root == tmp_path.resolve()
    assert catalog.labels == ["cat", "dog"]
    names = sorted(item.path.name for item in catalog.items)
    assert names == ["a.mp4", "b.AVI", "c.mkv", "x.webm", "y.MOV"]
    assert all(item.path.is_absolute() and item.path.exists() for item in catalog.items)
    assert {item.path.name: item.label for item in catalog.items}["c.mkv"] == "dog"
    assert all(item.group is None and item.split is None for item in catalog.items)
    assert not catalog.grouped
    problems = {problem.path.name: problem.reason for problem in catalog.problems}
    assert set(problems) == {"empty", "only_text", "stray.mp4"}
    assert "without videos" in problems["empty"]
    assert "outside a class folder" in problems["stray.mp4"]


def test_unicode_and_spaces_in_names(tmp_path: Path) -> None:
    touch(tmp_path, "café au lait/clip 1 ñ.mp4", "café au lait/二.mp4", "thé noir/x y.m4v")
    catalog = load_catalog(tmp_path)
    assert catalog.labels == ["café au lait", "thé noir"]
    assert Counter(item.label for item in catalog.items) == {"café au lait": 2, "thé noir": 1}
    assert all(item.path.exists() for item in catalog.items)


def test_group_regex_gives_groups_from_file_names(tmp_path: Path) -> None:
    touch(tmp_path, "a/cam1_001.mp4", "a/cam1_002.mp4", "b/cam2_001.mp4", "b/other.mp4")
    catalog = load_catalog(tmp_path, group_regex=r"^(cam\d+)_")
    groups = {item.path.name: item.group for item in catalog.items}
    assert groups == {"cam1_001.mp4": "cam1", "cam1_002.mp4": "cam1", "cam2_001.mp4": "cam2", "other.mp4": None}
    assert not catalog.grouped


def test_ucf_style_names_are_grouped_unless_turned_off(tmp_path: Path) -> None:
    touch(tmp_path, "Run/v_Run_g01_c01.avi", "Run/v_Run_g01_c02.avi", "Swim/v_Swim_g02_c01.avi")
    assert {item.group for item in load_catalog(tmp_path).items} == {"01", "02"}
    assert load_catalog(tmp_path).grouped
    assert {item.group for item in load_catalog(tmp_path, group_regex="").items} == {None}


def test_labels_option_fixes_order_and_rejects_unknown_folders(tmp_path: Path) -> None:
    touch(tmp_path, "a/1.mp4", "b/2.mp4")
    assert load_catalog(tmp_path, labels=["b", "a", "c"]).labels == ["b", "a", "c"]
    with pytest.raises(DatasetError, match=r"label 'b' is not one of the given labels"):
        load_catalog(tmp_path, labels=["a"])
    with pytest.raises(ConfigError, match="distinct"):
        load_catalog(tmp_path, labels=["a", "a"])


def test_split_folders_layout_keeps_the_split(tmp_path: Path) -> None:
    touch(tmp_path, "train/a/1.mp4", "train/a/2.mp4", "train/b/3.mp4", "train/b/4.mp4")
    touch(tmp_path, "test/a/5.mp4", "test/b/6.mp4", "validation/a/7.mp4", "validation/b/8.mp4")
    (tmp_path / "test" / "c").mkdir()
    catalog = load_catalog(tmp_path)
    assert catalog.source_format == "split_folders"
    assert catalog.labels == ["a", "b"]
    split_of = {item.path.name: item.split for item in catalog.items}
    assert split_of == {"1.mp4": "train", "2.mp4": "train", "3.mp4": "train", "4.mp4": "train",
                        "5.mp4": "test", "6.mp4": "test", "7.mp4": "val", "8.mp4": "val"}  # fmt: skip
    assert [problem.path.name for problem in catalog.problems] == ["c"]

    splits = split_catalog(catalog)
    assert splits.method == "given train/val/test"
    assert sorted(item.path.name for item in splits.val) == ["7.mp4", "8.mp4"]
    assert sorted(item.path.name for item in splits.test) == ["5.mp4", "6.mp4"]


def test_missing_root_empty_root_and_no_videos(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="nowhere: no such file or folder"):
        load_catalog(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match=f"{tmp_path.name}: no videos found"):
        load_catalog(tmp_path)
    touch(tmp_path, "a/readme.txt", "b/.hidden.mp4", "notes.md")
    with pytest.raises(DatasetError, match="no videos found"):
        load_catalog(tmp_path)
    with pytest.raises(ConfigError, match="format must be"):
        load_catalog(tmp_path, format="zip")
    with pytest.raises(ConfigError, match="group_regex"):
        load_catalog(tmp_path, group_regex="(")


# --- CSV --------------------------------------------------------------------------------------


def test_csv_with_quoted_groups_splits_and_missing_files(tmp_path: Path) -> None:
    touch(tmp_path, "videos/fight/f 1.mp4", "videos/fight/f2.mp4", "videos/calm/c1.mp4", "videos/calm/c2.mp4")
    csv_path = write_csv(
        tmp_path / "labels.csv",
        'path,label,group\n'
        'videos/fight/f 1.mp4,fight,"range:CamNet Dataset"\n'
        'videos/fight/f2.mp4,fight,"a, b"\n'
        '\n'
        '"videos/calm/c1.mp4", calm ,g1\n'
        'videos/calm/c2.mp4,calm,\n'
        'videos/calm/gone.mp4,calm,g1\n'
        'videos/fight/f2.mp4,fight,"a, b"\n'
        ',calm,g9\n',
    )
    for source in (tmp_path, csv_path):
        catalog = load_catalog(source)
        assert catalog.source_format == "csv"
        assert catalog.annotation == [csv_path.resolve()]
        assert catalog.labels == ["calm", "fight"]
        groups = {item.path.name: item.group for item in catalog.items}
        assert groups == {"f 1.mp4": "range:CamNet Dataset", "f2.mp4": "a, b", "c1.mp4": "g1", "c2.mp4": None}
        reasons = [(problem.path.name, problem.reason) for problem in catalog.problems]
        assert ("gone.mp4", "missing (listed in labels.csv line 7); skipped") in reasons
        assert ("f2.mp4", "listed again in labels.csv line 8; first entry kept") in reasons
        assert ("labels.csv", "line 9: empty path; row skipped") in reasons
        assert len(reasons) == 3


def test_csv_column_mapping_split_column_and_video_root(tmp_path: Path) -> None:
    touch(tmp_path, "media/v_a.mp4", "media/v_b.mp4", "media/v_c.mp4")
    csv_path = write_csv(
        tmp_path / "meta" / "train.csv",
        "video_name;tag;Split\nv_a.mp4;x;train\nv_b.mp4;y;Validation\nv_c.mp4;y;TEST\n",
    )
    no_columns = r"train\.csv: no path or label column; the columns are video_name, tag, Split"
    with pytest.raises(DatasetError, match=no_columns):
        load_catalog(csv_path)
    catalog = load_catalog(
        csv_path, columns={"path": "video_name", "label": "tag"}, video_root=tmp_path / "media"
    )
    assert {item.path.name: (item.label, item.split) for item in catalog.items} == {
        "v_a.mp4": ("x", "train"),
        "v_b.mp4": ("y", "val"),
        "v_c.mp4": ("y", "test"),
    }
    with pytest.raises(DatasetError, match=r"no column 'grp' \(given for group\)"):
        load_catalog(csv_path, columns={"path": "video_name", "label": "tag", "group": "grp"})
    with pytest.raises(ConfigError, match="columns keys"):
        load_catalog(csv_path, columns={"file": "video_name"})


def test_split_named_csvs_are_read_together_keras_layout(tmp_path: Path) -> None:
    """The Keras example: train.csv / test.csv (video_name,tag), videos in train/ and test/."""
    touch(tmp_path, "train/v_Run_g08_c01.avi", "train/v_Swim_g09_c01.avi", "test/v_Run_g01_c01.avi")
    write_csv(tmp_path / "train.csv", "video_name,tag\nv_Run_g08_c01.avi,Run\nv_Swim_g09_c01.avi,Swim\n")
    write_csv(tmp_path / "test.csv", "video_name,tag\nv_Run_g01_c01.avi,Run\n")
    catalog = load_catalog(tmp_path, columns={"path": "video_name", "label": "tag"})
    assert catalog.source_format == "csv"
    assert sorted((item.path.parent.name, item.path.name, item.split) for item in catalog.items) == [
        ("test", "v_Run_g01_c01.avi", "test"),
        ("train", "v_Run_g08_c01.avi", "train"),
        ("train", "v_Swim_g09_c01.avi", "train"),
    ]
    assert catalog.grouped  # UCF101 names: groups from _gNN_
    assert catalog.problems == []


def test_csv_wins_over_folders_in_the_same_root(tmp_path: Path) -> None:
    touch(tmp_path, "a/1.mp4", "a/2.mp4", "b/3.mp4")
    write_csv(tmp_path / "groups.csv", "path,label,group\na/1.mp4,a,s1\na/2.mp4,a,s1\nb/3.mp4,b,s2\n")
    write_csv(tmp_path / "results.csv", "epoch,loss\n1,0.5\n")  # not a catalog: passed over
    catalog = load_catalog(tmp_path)
    assert catalog.source_format == "csv" and catalog.grouped
    folders = load_catalog(tmp_path, format="folders")
    assert folders.source_format == "folders" and not folders.grouped
    assert sorted(i.path for i in folders.items) == sorted(i.path for i in catalog.items)


def test_bad_csvs(tmp_path: Path) -> None:
    touch(tmp_path, "a/1.mp4", "b/2.mp4")
    write_csv(tmp_path / "one.csv", "path,label\na/1.mp4,a\n")
    write_csv(tmp_path / "two.csv", "path,label\nb/2.mp4,b\n")
    with pytest.raises(DatasetError, match=r"several CSV catalogs \(one\.csv, two\.csv\)"):
        load_catalog(tmp_path)

    labels_csv = write_csv(tmp_path / "x" / "labels.csv", "path,label\n../a/1.mp4,a\n../b/2.mp4,zebra\n")
    unknown = r"labels\.csv line 3: label 'zebra' is not one of the given labels \(a, b\)"
    with pytest.raises(DatasetError, match=unknown):
        load_catalog(labels_csv, labels=["a", "b"])
    assert load_catalog(labels_csv).labels == ["a", "zebra"]

    bad_split = write_csv(tmp_path / "y" / "labels.csv", "path,label,split\n../a/1.mp4,a,holdout\n")
    with pytest.raises(DatasetError, match=r"labels\.csv line 2: split 'holdout' is not one of train, val, test"):
        load_catalog(bad_split)

    all_missing = write_csv(tmp_path / "z" / "labels.csv", "path,label\na/1.mp4,a\n")
    with pytest.raises(DatasetError, match=r"no videos found: .*relative to .*z; pass video_root="):
        load_catalog(all_missing)

    empty = write_csv(tmp_path / "w" / "labels.csv", "")
    with pytest.raises(DatasetError, match="empty CSV file"):
        load_catalog(empty)

    latin1 = tmp_path / "v" / "labels.csv"
    latin1.parent.mkdir()
    latin1.write_bytes("path,label\ncaf\xe9.mp4,a\n".encode("latin-1"))
    with pytest.raises(DatasetError, match="not UTF-8 text"):
        load_catalog(latin1)


def test_auto_detection_failure_names_the_csv_columns(tmp_path: Path) -> None:
    touch(tmp_path, "a.mp4")
    write_csv(tmp_path / "data.csv", "video_name,tag\na.mp4,x\n")
    detail = r"videos lie directly in it \(1\).*data\.csv: no path or label column; the columns are video_name, tag"
    with pytest.raises(DatasetError, match=r"no videos found: .*" + detail):
        load_catalog(tmp_path)
    with pytest.raises(DatasetError, match=r"no CSV with path and label columns"):
        load_catalog(tmp_path, format="csv")
    assert len(load_catalog(tmp_path, columns={"path": "video_name", "label": "tag"})) == 1


# --- UCF101 and MMAction2 ---------------------------------------------------------------------


def make_ucf(root: Path) -> None:
    names = ["Zumba", "ApplyEyeMakeup"]  # classInd order is not alphabetical
    write_csv(root / "ucfTrainTestlist" / "classInd.txt", "1 Zumba\n2 ApplyEyeMakeup\n")
    train, test = [], []
    for index, name in enumerate(names, start=1):
        for group in (1, 2, 3, 4, 5, 6):
            rel = f"{name}/v_{name}_g{group:02d}_c01.avi"
            touch(root / "UCF-101", rel)
            (test if group <= 2 else train).append((rel, index))
    write_csv(root / "ucfTrainTestlist" / "trainlist01.txt", "".join(f"{rel} {i}\n" for rel, i in train))
    write_csv(root / "ucfTrainTestlist" / "testlist01.txt", "".join(f"{rel}\n" for rel, _ in test))


def test_ucf101_split_files(tmp_path: Path) -> None:
    make_ucf(tmp_path)
    catalog = load_catalog(tmp_path)
    assert catalog.source_format == "ucf101"
    assert catalog.labels == ["Zumba", "ApplyEyeMakeup"]
    assert len(catalog.items) == 12 and catalog.problems == []
    assert catalog.grouped
    assert {item.group for item in catalog.items if item.split == "test"} == {"01", "02"}
    assert {item.group for item in catalog.items if item.split == "train"} == {"03", "04", "05", "06"}
    assert load_catalog(tmp_path / "ucfTrainTestlist" / "trainlist01.txt").items == catalog.items

    splits = split_catalog(catalog, val=0.15)
    assert splits.method.startswith("given train/test; val carved from train by stratified group split (4 groups)")
    assert len(splits.test) == 4
    val_groups = {item.group for item in splits.val}
    assert val_groups and not val_groups & {item.group for item in splits.train}

    with pytest.raises(DatasetError, match=r"trainlist02\.txt: missing"):
        load_catalog(tmp_path, ucf_split=2)
    with pytest.raises(ConfigError, match="ucf_split"):
        load_catalog(tmp_path, ucf_split=4)


def test_ucf101_bad_lines_and_missing_videos(tmp_path: Path) -> None:
    make_ucf(tmp_path)
    lists = tmp_path / "ucfTrainTestlist"
    (lists / "trainlist01.txt").write_text("Zumba/v_Zumba_g03_c01.avi 7\n")
    with pytest.raises(DatasetError, match=r"trainlist01\.txt line 1: class index '7' is not in 1\.\.2"):
        load_catalog(tmp_path)
    (lists / "trainlist01.txt").write_text("Zumba/v_Zumba_g03_c01.avi 1\nZumba/v_Zumba_g09_c01.avi 1\n")
    catalog = load_catalog(tmp_path)
    assert [problem.path.name for problem in catalog.problems] == ["v_Zumba_g09_c01.avi"]
    with pytest.raises(DatasetError, match="pass video_root="):
        load_catalog(tmp_path, video_root=lists)


def test_mmaction_list(tmp_path: Path) -> None:
    touch(tmp_path, "v/a 1.mp4", "v/b.mp4", "v/c.mp4")
    listing = write_csv(tmp_path / "mini_train_list_videos.txt", "v/a 1.mp4 0\nv/b.mp4 2\n\nv/c.mp4 2\n")
    catalog = load_catalog(listing)
    assert catalog.source_format == "mmaction"
    assert catalog.labels == ["0", "1", "2"]
    assert {item.path.name: (item.label, item.split) for item in catalog.items} == {
        "a 1.mp4": ("0", "train"), "b.mp4": ("2", "train"), "c.mp4": ("2", "train")}  # fmt: skip
    named = load_catalog(listing, labels=["walk", "sit", "run"])
    assert sorted(item.label for item in named.items) == ["run", "run", "walk"]
    with pytest.raises(DatasetError, match=r"line 2: label index 2 but only 2 labels"):
        load_catalog(listing, labels=["walk", "sit"])
    (tmp_path / "broken.txt").write_text("v/b.mp4 two\n")
    with pytest.raises(DatasetError, match=r"broken\.txt line 1: expected '<path> <label index>'"):
        load_catalog(tmp_path / "broken.txt")


# --- splits -----------------------------------------------------------------------------------


def synthetic_catalog(groups_per_label: int = 12, seed: int = 0, grouped: bool = True) -> Catalog:
    """Three labels of uneven size, groups of 1-8 clips, some groups with two labels."""
    rng = np.random.default_rng(seed)
    items = []
    for label_index, label in enumerate(["a", "b", "c"]):
        for g in range(groups_per_label * (label_index + 1)):
            group = f"{label}{g}" if g % 5 else f"mixed{g}"  # "mixed" groups span labels
            for clip in range(int(rng.integers(1, 9))):
                path = Path(f"/data/{label}/{group}_{clip}.mp4")
                items.append(VideoItem(path, label, group if grouped else None))
    return Catalog(Path("/data"), items, ["a", "b", "c"], "csv", [])


def sides_of_groups(splits) -> dict[str, set[str]]:
    sides: dict[str, set[str]] = {}
    for name, items in splits.parts().items():
        for item in items:
            sides.setdefault(item.group, set()).add(name)
    return sides


@pytest.mark.parametrize("seed", range(6))
def test_group_split_keeps_groups_whole_and_is_stratified(seed: int) -> None:
    catalog = synthetic_catalog(seed=seed)
    splits = split_catalog(catalog, val=0.15, test=0.2, seed=seed)
    n_groups = len({item.group for item in catalog.items})
    assert splits.method == f"stratified group split ({n_groups} groups)"
    assert all(len(sides) == 1 for sides in sides_of_groups(splits).values())
    parts = splits.parts()
    assert sorted(i.path for p in parts.values() for i in p) == sorted(i.path for i in catalog.items)
    per_label = Counter(item.label for item in catalog.items)
    for name, fraction in (("train", 0.65), ("val", 0.15), ("test", 0.2)):
        got = Counter(item.label for item in parts[name])
        for label, total in per_label.items():
            assert abs(got[label] / total - fraction) < 0.06, (name, label, got[label], total)


def test_split_is_deterministic_per_seed_and_varies_across_seeds() -> None:
    catalog = synthetic_catalog()
    first = split_catalog(catalog, seed=3)
    again = split_catalog(catalog, seed=3)
    assert first.parts() == again.parts() and first.seed == 3
    tests = {tuple(sorted(str(item.path) for item in split_catalog(catalog, seed=s).test)) for s in range(5)}
    assert len(tests) > 1


def test_split_does_not_depend_on_hash_randomisation() -> None:
    """Sets and dicts must not leak into the assignment: same split under other hash seeds."""
    code = (
        "import sys; sys.path.insert(0, %r)\n"
        "from test_catalog import synthetic_catalog\n"
        "from vidclass.data.splits import split_catalog\n"
        "print([sorted(str(i.path) for i in p) for p in split_catalog(synthetic_catalog(), seed=2).parts().values()])"
    ) % str(Path(__file__).parent)
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": seed}, capture_output=True, text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1 and "/data/" in outputs.pop()


def test_clip_split_says_no_groups_and_partial_groups_are_named() -> None:
    catalog = synthetic_catalog(grouped=False)
    splits = split_catalog(catalog)
    assert splits.method == "stratified clip split: no groups known"
    assert abs(len(splits.test) / len(catalog.items) - 0.15) < 0.02

    items = [VideoItem(Path(f"/d/{i}.mp4"), "ab"[i % 2], f"g{i // 4}" if i < 20 else None) for i in range(30)]
    partial = split_catalog(Catalog(Path("/d"), items, ["a", "b"], "csv", []))
    assert partial.method == "stratified group split (5 groups; 10 clips without a group split as single clips)"
    assert all(len(sides) == 1 for group, sides in sides_of_groups(partial).items() if group is not None)


def test_split_options_and_impossible_splits() -> None:
    catalog = synthetic_catalog()
    for kwargs in ({"val": -0.1}, {"test": 1.0}, {"val": 0.5, "test": 0.5}):
        with pytest.raises(ConfigError):
            split_catalog(catalog, **kwargs)
    no_val = split_catalog(catalog, val=0.0)
    assert no_val.val == [] and no_val.test
    two = [VideoItem(Path(f"/d/{i}.mp4"), "a", f"g{i % 2}") for i in range(6)]
    with pytest.raises(DatasetError, match="only 2 groups to share among train, val, test"):
        split_catalog(Catalog(Path("/d"), two, ["a"], "csv", []))


def test_given_splits_partial_and_leaky() -> None:
    items = [VideoItem(Path(f"/d/{i}.mp4"), "a", f"g{i}", "train" if i < 8 else "test") for i in range(10)]
    kept = split_catalog(Catalog(Path("/d"), items, ["a"], "csv", []), val=0.0)
    assert kept.method == "given train/test" and len(kept.train) == 8 and len(kept.test) == 2

    leaky = [VideoItem(item.path, item.label, "same", item.split) for item in items]
    assert "warning: 1 groups appear in more than one part" in split_catalog(
        Catalog(Path("/d"), leaky, ["a"], "csv", []), val=0.0
    ).method

    partial = items[:-1] + [VideoItem(Path("/d/x.mp4"), "a")]
    with pytest.raises(DatasetError, match="1 of 10 clips have no split"):
        split_catalog(Catalog(Path("/d"), partial, ["a"], "csv", []))


# --- describe ---------------------------------------------------------------------------------


def fake_probe(path: Path) -> SimpleNamespace:
    """Metadata from the file name; files named bad* are unreadable."""
    if path.name.startswith("bad"):
        raise VideoReadError(path, "not a video")
    fps = 30.0 if path.parent.name == "a" else 25.0
    width = 640 if "wide" in path.name else 320
    return SimpleNamespace(path=path, num_frames=60, fps=fps, duration=60 / fps, width=width, height=240,
                           rotation=0, codec="h264", keyframes=(0,))  # fmt: skip


def test_describe_with_a_fake_probe(tmp_path: Path) -> None:
    touch(tmp_path, "a/1.mp4", "a/2.mp4", "a/wide.mp4", "b/3.mp4", "b/bad.mp4", "b/4.mp4")
    (tmp_path / "c").mkdir()
    catalog = load_catalog(tmp_path, group_regex=r"^(\w)")
    splits = split_catalog(catalog, val=0.2, test=0.2, seed=1)
    summary = describe(catalog, splits, probe=fake_probe, workers=3)

    assert summary.clips == 6 and summary.readable == 5
    assert summary.total_duration_s == pytest.approx(3 * 2.0 + 2 * 2.4)
    assert [path.name for path, _ in summary.unreadable] == ["c", "bad.mp4"]
    assert dict(summary.unreadable)[tmp_path.resolve() / "b" / "bad.mp4"] == "not a video"
    a = summary.classes[0]
    assert a.label == "a" and a.total == 3 and a.fps_range == (30.0, 30.0)
    assert a.sizes == {"320x240": 2, "640x240": 1}

    data = json.loads(json.dumps(summary.to_dict()))
    assert data["format"] == "folders" and data["labels"] == ["a", "b"]
    assert data["clips_per_class"] == {"a": 3, "b": 3}
    assert data["split_method"] == splits.method and data["seed"] == 1
    for name, items in splits.parts().items():
        assert data["clips_per_split"][name] == len(items)
        assert data["groups_per_split"][name] == len({item.group for item in items})
        for label in ("a", "b"):
            assert data["clips_per_class_and_split"][label][name] == sum(i.label == label for i in items)
    assert data["unreadable"][1]["reason"] == "not a video"


def test_describe_without_splits_uses_the_given_split(tmp_path: Path) -> None:
    touch(tmp_path, "train/a/1.mp4", "train/a/2.mp4", "test/a/3.mp4")
    summary = describe(load_catalog(tmp_path), probe=fake_probe).to_dict()
    assert summary["clips_per_split"] == {"train": 2, "test": 1}
    assert summary["split_method"] == "given" and summary["groups"] == 0
    with pytest.raises(ConfigError, match="workers"):
        describe(load_catalog(tmp_path), probe=fake_probe, workers=0)


def test_describe_with_the_real_probe(tmp_path: Path) -> None:

    frames = [np.full((64, 96, 3), 40 * i, dtype=np.uint8) for i in range(6)]
    write_video(tmp_path / "a" / "one.mp4", frames, fps=12)
    write_video(tmp_path / "b" / "two.mp4", frames + frames, fps=12)
    (tmp_path / "b" / "broken.mp4").write_bytes(b"not a video at all")
    summary = describe(load_catalog(tmp_path))
    assert summary.readable == 2
    assert [path.name for path, _ in summary.unreadable] == ["broken.mp4"]
    assert summary.total_duration_s == pytest.approx(1.5, abs=0.2)
    assert summary.classes[1].sizes == {"96x64": 1}


# --- the real fight_surv dataset --------------------------------------------------------------


@pytest.fixture
def fight_surv() -> Path:
    if not (FIGHT_SURV / "groups.csv").is_file():
        pytest.skip(f"shared data not found at {FIGHT_SURV}")
    return FIGHT_SURV


def test_fight_surv_catalog_and_split(fight_surv: Path) -> None:
    catalog = load_catalog(fight_surv)
    assert catalog.source_format == "csv"
    assert len(catalog.items) == 221
    assert catalog.labels == ["fight", "noFight"]
    assert len({item.group for item in catalog.items}) == 32 and catalog.grouped
    assert catalog.problems == []
    splits = split_catalog(catalog, seed=0)
    assert splits.method == "stratified group split (32 groups)"
    assert all(len(sides) == 1 for sides in sides_of_groups(splits).values())
    assert 25 <= len(splits.test) <= 42 and 25 <= len(splits.val) <= 42


@pytest.mark.slow  # probes 221 real clips: 5-11 s on 2 CPU cores
def test_fight_surv_describe_with_the_real_probe(fight_surv: Path) -> None:
    catalog = load_catalog(fight_surv)
    summary = describe(catalog, split_catalog(catalog))
    assert summary.unreadable == []
    assert summary.readable == 221
    assert 221 * 1.0 < summary.total_duration_s < 221 * 4.0  # clips of about 2 s
