"""MNIST study data: IDX files written by the test, and the digit grids of SPEC section 8."""

import gzip

import numpy as np
import pytest

from pvsflow.mnist import make_grids, read_idx


def write_idx(path, array, type_code=0x08):
    header = bytes([0, 0, type_code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + array.astype(">u1" if type_code == 0x08 else array.dtype).tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as handle:
        handle.write(payload)


@pytest.fixture
def pool():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 6)
    digits = (rng.random((60, 28, 28)) * 255).astype(np.uint8)
    digits[:, 0, 0] = labels  # each tile remembers its label, to check the grid layout
    return digits, labels


@pytest.mark.parametrize("name", ["t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz"])
def test_idx_round_trip_plain_and_gzipped(tmp_path, pool, name):
    digits, labels = pool
    write_idx(tmp_path / name, digits)
    write_idx(tmp_path / "labels-idx1-ubyte", labels)
    assert np.array_equal(read_idx(tmp_path / name), digits)
    assert np.array_equal(read_idx(tmp_path / "labels-idx1-ubyte"), labels)


def test_bad_idx_files_are_named_in_the_error(tmp_path, pool):
    (tmp_path / "junk-idx3-ubyte").write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(ValueError, match="junk-idx3-ubyte: not an IDX file"):
        read_idx(tmp_path / "junk-idx3-ubyte")
    write_idx(tmp_path / "short-idx3-ubyte", pool[0])
    data = (tmp_path / "short-idx3-ubyte").read_bytes()
    (tmp_path / "short-idx3-ubyte").write_bytes(data[:-10])
    with pytest.raises(ValueError, match="short-idx3-ubyte: IDX header says"):
        read_idx(tmp_path / "short-idx3-ubyte")


def test_grids_are_5_by_7_digits_half_without_the_target(pool):
    digits, labels = pool
    grids = make_grids(digits, labels, target=3, n_images=10, rng=np.random.default_rng(1))
    assert grids.images.shape == (10, 140, 196) and grids.images.dtype == np.float32
    assert 0.0 <= grids.images.min() and grids.images.max() <= 1.0
    assert (grids.counts[:5] == 0).all() and (grids.counts[5:] >= 1).all()
    assert np.array_equal(grids.counts, (grids.cells == 3).sum(axis=(1, 2)))
    # Cell (row r, column c) holds the tile whose stamped label is cells[r, c].
    stamped = np.round(grids.images[:, ::28, ::28] * 255).astype(int)
    assert np.array_equal(stamped, grids.cells)
    again = make_grids(digits, labels, target=3, n_images=10, rng=np.random.default_rng(1))
    assert np.array_equal(again.images, grids.images)


def test_a_pool_without_the_target_is_an_error(pool):
    digits, labels = pool
    with pytest.raises(ValueError, match="digit 3"):
        make_grids(digits[labels != 3], labels[labels != 3], target=3, n_images=4, rng=np.random.default_rng(0))
