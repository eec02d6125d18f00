"""`data.name = "folder:PATH"`: the user's image folders, built tiny in tmp_path.

Each class is a solid colour (plus a marker pixel per file), so after decoding
every image's centre says which class it came from.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers.data import COLOURS, make_folder, snapshot, write_image

from lth_tf.core.config import Data
from lth_tf.core.errors import LthError
from lth_tf.keras_side import data
from lth_tf.keras_side.data import folder

GREYS = {"cat": (60, 60, 60), "dog": (190, 190, 190)}


def centre_colours(x: np.ndarray) -> np.ndarray:
    return x[:, x.shape[1] // 2, x.shape[2] // 2].astype(int)


def assert_labels_match_colours(x, y, class_names, colours=None):
    colours = colours or COLOURS
    expected = np.array([colours[class_names[label]] for label in y])[:, : x.shape[-1]]
    assert np.abs(centre_colours(x) - expected).max() <= 12


def load(root: Path, **kw):
    seed = kw.pop("seed", 0)
    return data.load(Data(name=f"folder:{root}", **kw), seed=seed)


# -- layouts -----------------------------------------------------------------------------------


def test_class_folders_split_here_into_train_val_test(tmp_path):
    counts = {"owl": 12, "cat": 10, "dog": 11}
    root = make_folder(tmp_path / "pets", counts, nested=True)
    (root / "README.txt").write_text("not an image")
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / "cat" / ".hidden.png").write_bytes(b"broken, but hidden")
    (root / ".git").mkdir()
    before = snapshot(root)
    d = load(root, image_size=16)
    assert snapshot(root) == before
    assert d.kind == "image" and d.class_names == ("cat", "dog", "owl")
    assert d.num_classes == 3 and d.input_shape == (16, 16, 3) and d.name == f"folder:{root}"
    assert d.x_train.dtype == np.uint8 and d.y_train.dtype == np.int64
    # Test: a fifth of each class, rounded.
    per_test = [round(counts[c] * folder.TEST_FRACTION) for c in d.class_names]
    assert np.bincount(d.y_test).tolist() == per_test
    n_train = sum(counts.values()) - sum(per_test)
    # Validation: the default 5000 capped at 10% of the training images, one per class at least.
    assert len(d.x_val) == max(3, int(n_train * folder.MAX_VAL_FRACTION))
    assert len(d.x_train) + len(d.x_val) == n_train
    for x, y in ((d.x_train, d.y_train), (d.x_val, d.y_val), (d.x_test, d.y_test)):
        assert_labels_match_colours(x, y, d.class_names)
    # Every file used exactly once.
    for c, name in enumerate(d.class_names):
        assert sum(int((y == c).sum()) for y in (d.y_train, d.y_val, d.y_test)) == counts[name]
    assert np.allclose(d.mean, d.x_train.reshape(-1, 3).mean(axis=0), atol=1)


def test_same_seed_same_arrays_other_seed_same_test_set(tmp_path):
    root = make_folder(tmp_path / "pets", {"cat": 15, "dog": 15, "owl": 15})
    a, b, c = (load(root, image_size=12, seed=s) for s in (3, 3, 4))
    for f in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test", "mean", "std"):
        assert np.array_equal(getattr(a, f), getattr(b, f)), f
    # The test images do not depend on the run's seed; the validation draw does.
    assert np.array_equal(a.x_test, c.x_test) and np.array_equal(a.y_test, c.y_test)
    assert not np.array_equal(a.x_val, c.x_val)


def test_train_and_test_folders_are_used_as_given(tmp_path):
    root = tmp_path / "split"
    make_folder(root / "train", {"cat": 20, "dog": 20})
    make_folder(root / "test", {"cat": 3, "dog": 4})
    d = load(root, image_size=16, val_size=3, augment=False)
    assert d.class_names == ("cat", "dog") and not d.augment
    assert np.bincount(d.y_test).tolist() == [3, 4]
    assert len(d.x_val) == 3 and len(d.x_train) == 37  # val_size 3 <= 10% of 40: kept
    assert_labels_match_colours(d.x_test, d.y_test, d.class_names)
    assert d.y_test.tolist() == [0, 0, 0, 1, 1, 1, 1]  # test/ in (class, file) order


def test_val_size_zero_and_small_values_are_kept(tmp_path):
    root = make_folder(tmp_path / "pets", {"cat": 30, "dog": 30})
    assert len(load(root, image_size=8, val_size=0).x_val) == 0
    assert len(load(root, image_size=8, val_size=2).x_val) == 2
    d = load(root, image_size=8, val_size=4, train_subset=10)
    assert len(d.x_train) == 10 and np.bincount(d.y_train).tolist() == [5, 5]


def test_grey_images_keep_one_channel_unless_one_is_coloured(tmp_path):
    root = make_folder(tmp_path / "grey", {"cat": 6, "dog": 6}, colours=GREYS)
    d = load(root, image_size=10)
    assert d.input_shape == (10, 10, 1) and d.mean.shape == (1,)
    assert_labels_match_colours(d.x_test, d.y_test, d.class_names, GREYS)
    x, _ = next(iter(d.train_dataset(4, seed=0)))  # the pipeline takes one channel too
    assert tuple(x.shape) == (4, 10, 10, 1)
    write_image(root / "dog" / "red.png", (200, 30, 30))
    assert load(root, image_size=10).input_shape == (10, 10, 3)


def test_images_are_resized_to_image_size(tmp_path):
    root = tmp_path / "sizes"
    for i, size in enumerate([(5, 5), (64, 17), (300, 200)]):
        write_image(root / "cat" / f"{i}.png", COLOURS["cat"], size, marker=200)
        write_image(root / "dog" / f"{i}.jpg", COLOURS["dog"], size, marker=200)
    for s in (8, 20):
        d = load(root, image_size=s)
        assert d.input_shape == (s, s, 3)
        assert_labels_match_colours(np.concatenate([d.x_train, d.x_val, d.x_test]),
                                    np.concatenate([d.y_train, d.y_val, d.y_test]),
                                    d.class_names)  # fmt: skip


def test_data_dir_is_irrelevant(tmp_path):
    root = make_folder(tmp_path / "pets", {"cat": 5, "dog": 5})
    a = data.load(Data(name=f"folder:{root}", image_size=8), tmp_path / "no-such-dir", seed=1)
    b = data.load(Data(name=f"folder:{root}", image_size=8), None, seed=1)
    assert np.array_equal(a.x_train, b.x_train)


# -- bad folders ---------------------------------------------------------------------------------


def bad_folder(root: Path, case: str) -> str:
    """Build a broken folder; returns the path the error must name (relative to root)."""
    root.mkdir()
    if case == "empty":
        (root / ".DS_Store").write_text("")
        return "."
    if case == "no class folders":
        write_image(root / "a.png", COLOURS["cat"])
        return "."
    if case == "one class":
        make_folder(root, {"cat": 4})
        return "."
    if case == "class without images":
        make_folder(root, {"cat": 4, "dog": 4})
        (root / "owl").mkdir()
        (root / "owl" / "readme.txt").write_text("no images here")
        return "owl"
    if case == "class with one image":
        make_folder(root, {"cat": 4, "dog": 1})
        return "dog"
    if case == "truncated png":
        make_folder(root, {"cat": 4, "dog": 4})
        p = root / "dog" / "000.png"
        p.write_bytes(p.read_bytes()[:40])
        return "dog/000.png"
    if case == "not an image":
        make_folder(root, {"cat": 4, "dog": 4})
        (root / "cat" / "zzz.jpg").write_text("this is text, not a JPEG")
        return "cat/zzz.jpg"
    if case == "train without test":
        make_folder(root / "train", {"cat": 4, "dog": 4})
        return "."
    if case == "test without train":
        make_folder(root / "test", {"cat": 4, "dog": 4})
        return "."
    if case == "extra folder beside train and test":
        make_folder(root / "train", {"cat": 4, "dog": 4})
        make_folder(root / "test", {"cat": 2, "dog": 2})
        make_folder(root / "val", {"cat": 2, "dog": 2})
        return "."
    if case == "class missing from test":
        make_folder(root / "train", {"cat": 4, "dog": 4, "owl": 4})
        make_folder(root / "test", {"cat": 2, "dog": 2})
        return "test"
    if case == "class only in test":
        make_folder(root / "train", {"cat": 4, "dog": 4})
        make_folder(root / "test", {"cat": 2, "dog": 2, "owl": 2})
        return "train"
    if case == "empty test class":
        make_folder(root / "train", {"cat": 4, "dog": 4})
        make_folder(root / "test", {"cat": 2})
        (root / "test" / "dog").mkdir()
        return "test/dog"
    raise AssertionError(case)


BAD = {  # case: what the message must say besides the path
    "empty": "is empty",
    "no class folders": "no class subfolders",
    "one class": "one class folder (cat)",
    "class without images": "has no images",
    "class with one image": "has 1 image",
    "truncated png": "cannot read image",
    "not an image": "cannot read image",
    "train without test": "has train/ but no test/",
    "test without train": "has test/ but no train/",
    "extra folder beside train and test": "has val/ beside train/ and test/",
    "class missing from test": "lacks the class folder 'owl'",
    "class only in test": "lacks the class folder 'owl'",
    "empty test class": "has no images",
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_folder_is_one_line_naming_it(tmp_path, case):
    root = tmp_path / "imgs"
    where = bad_folder(root, case)
    with pytest.raises(LthError) as e:
        load(root, image_size=8)
    msg = str(e.value)
    named = root if where == "." else root / where
    assert "\n" not in msg and str(named) in msg and BAD[case] in msg, msg


def test_errors_come_before_tensorflow_is_imported(tmp_path):
    """The CLI checks data before importing TF; listing and decoding need none."""
    bad_folder(tmp_path / "a", "class missing from test")
    bad_folder(tmp_path / "b", "truncated png")
    code = (
        "import sys; from lth_tf.keras_side import data; from lth_tf.core.config import Data\n"
        "from lth_tf.core.errors import LthError\n"
        "for p in sys.argv[1:]:\n"
        "    try: data.load(Data(name='folder:' + p))\n"
        "    except LthError as e: print(e)\n"
        "print('tensorflow' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "a"), str(tmp_path / "b")],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-500:]
    lines = out.stdout.strip().splitlines()
    assert "lacks the class folder" in lines[0] and "cannot read image" in lines[1]
    assert lines[2] == "False"


# -- the split helpers -----------------------------------------------------------------------------


def test_split_off_test_takes_a_rounded_fifth_of_each_class_at_least_one():
    labels = np.repeat([0, 1, 2, 3], [2, 7, 10, 23])
    idx = folder.split_off_test(labels, seed=0)
    assert np.bincount(labels[idx]).tolist() == [max(1, round(n * 0.2)) for n in (2, 7, 10, 23)]
    assert (np.diff(idx) > 0).all()
    assert np.array_equal(idx, folder.split_off_test(labels, seed=0))
    assert not np.array_equal(idx, folder.split_off_test(labels, seed=1))


@pytest.mark.parametrize(
    ("val_size", "counts", "expected"),
    [
        (5000, [500, 500], 100),  # 10% of 1000
        (50, [500, 500], 50),  # smaller requests are kept
        (5000, [10, 10, 10], 3),  # 10% would be 3: one per class
        (5000, [4, 4, 4], 3),  # floor of one per class
        (5000, [100, 2], 10),  # proportional: the 2-image class gives at most 1, keeps 1
        (5000, [100, 1], 10),  # the 1-image class keeps it (none in validation; a warning names it)
        (5000, [1, 1], 0),  # nothing to spare
        (0, [500, 500], 0),
    ],
)
def test_capped_val_size(val_size, counts, expected):
    labels = np.repeat(np.arange(len(counts)), counts)
    assert folder.capped_val_size(val_size, labels, len(counts)) == expected


# -- proportions and small classes (the issue's 900/450/225 folder and its 8-image class) ----------


def _tiny_folder(root: Path, counts: dict[str, int]) -> Path:
    from PIL import Image

    for c, n in counts.items():
        (root / c).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(np.full((4, 4, 3), (i * 7) % 256, np.uint8)).save(root / c / f"{i:04d}.png")
    return root


def test_a_folder_splits_in_its_class_proportions(tmp_path):
    """900/450/225 images gave train [678 318 138], val [42 42 42], test [180 90 45]."""
    d = load(_tiny_folder(tmp_path / "f", {"a": 900, "b": 450, "c": 225}), image_size=4)
    assert np.bincount(d.y_test).tolist() == [180, 90, 45]
    assert np.bincount(d.y_val).tolist() == [72, 36, 18]  # proportional, like train and test
    assert np.bincount(d.y_train).tolist() == [648, 324, 162]


def test_a_class_of_8_images_keeps_5_for_training_and_is_named_in_a_warning(tmp_path):
    from lth_tf.keras_side.data.splits import small_class_warnings, split_sizes

    d = load(_tiny_folder(tmp_path / "f", {"big": 40, "mid": 20, "tiny": 8}), image_size=4)
    sizes = split_sizes(d)
    assert sizes["classes"] == ["big", "mid", "tiny"] and sizes["unit"] == "images"
    assert sizes["test"] == [8, 4, 2] and sizes["val"] == [3, 1, 1] and sizes["train"] == [29, 15, 5]
    (warning,) = small_class_warnings(sizes)
    assert warning.startswith("class 'tiny' has only 5 training images (fewer than 10)")
    # two images in a class: one to test, one to train, none to validate; it loads, and is named
    d = load(make_folder(tmp_path / "g", {"cat": 4, "dog": 2}), image_size=8)
    assert np.bincount(d.y_train, minlength=2).tolist()[1] == 1
    assert [w.split(" has")[0] for w in small_class_warnings(split_sizes(d))] == ["class 'cat'", "class 'dog'"]
