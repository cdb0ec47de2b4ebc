"""load_run and friends against the files awd wrote: the same arrays as np.load, PyTorch names,
the manifest enforced, errors naming the file."""
import os
import shutil

import numpy as np
import pytest

import awd


def test_load_run_gives_the_arrays_of_the_npy_files(tiny_run):
    for name in ["W0", "W1", "W2", "X_train", "y_train", "X_test", "y_test", "noisy_train"]:
        expected = np.load(os.path.join(tiny_run.path, name + ".npy"))
        assert np.array_equal(tiny_run.arrays[name], expected)
        assert tiny_run.arrays[name].dtype == expected.dtype
    assert tiny_run.data["X_train"].shape == (60, 4)
    assert tiny_run.data["y_test"].dtype == np.int64


def test_weights_under_pytorch_state_dict_names(tiny_run):
    sd = tiny_run.state_dict
    assert list(sd) == ["0.weight", "2.weight", "4.weight"]  # Sequential(Linear, ReLU, Linear, ReLU, Linear), no bias
    assert [w.shape for w in sd.values()] == [(6, 4), (5, 6), (3, 5)]  # (n_out, n_in) like torch.nn.Linear
    # the forward pass through those names reproduces the accuracy awd measured on the test split
    a = tiny_run.data["X_test"]
    for k, W in enumerate(sd.values()):
        a = a @ W.T
        a = np.maximum(a, 0) if k < 2 else a
    accuracy = np.mean(np.argmax(a, 1) == tiny_run.data["y_test"])
    assert accuracy == pytest.approx(tiny_run.summary["test_accuracy"], abs=1e-12)


def test_summary_log_and_provenance(tiny_run):
    s = tiny_run.summary
    assert s["arch"] == "4-6-5-3" and s["bias"] is False
    assert s["provenance"]["command"] == "train" and s["provenance"]["flags"]["epochs"] == "5"
    assert list(tiny_run.log["epoch"]) == list(range(1, s["epochs"] + 1))
    assert tiny_run.log["train_loss"][-1] == pytest.approx(s["train_loss"], rel=1e-15)


def test_hessian_and_duality_analyses(tiny_run):
    h = tiny_run.hessian(1)
    H = np.load(os.path.join(tiny_run.path, "hessian-layer1", "H.npy"))
    assert np.array_equal(h.arrays["H"], H)
    assert H.shape == (30, 30) and np.allclose(H, H.T, atol=0, rtol=1e-12)
    assert np.allclose(np.sort(np.linalg.eigvalsh(H))[::-1], h.arrays["eigenvalues"], rtol=1e-9, atol=1e-12)
    assert h.json["hessian"]["provenance"]["command"] == "hessian"
    d = tiny_run.duality(1)
    assert "duality" in d.json and len(d.tables["directions"]) > 0
    assert tiny_run.hessian(2) is None


@pytest.fixture
def copy_of(tiny_run, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(tiny_run.path, target)
    return target


def test_a_changed_file_raises_naming_it(copy_of):
    W1 = copy_of / "W1.npy"
    data = bytearray(W1.read_bytes())
    data[-1] ^= 1  # one bit of the last weight
    W1.write_bytes(bytes(data))
    with pytest.raises(awd.RunFolderError, match=r"W1\.npy: checksum differs from manifest\.json"):
        awd.load_run(copy_of)


def test_a_missing_or_resized_file_raises_naming_it(copy_of):
    os.remove(copy_of / "X_test.npy")
    with pytest.raises(awd.RunFolderError, match=r"X_test\.npy is listed in manifest\.json .* but missing"):
        awd.load_run(copy_of)
    with open(copy_of / "log.csv", "a") as f:
        f.write("extra\n")
    shutil.copy(copy_of / "X_train.npy", copy_of / "X_test.npy")
    with pytest.raises(awd.RunFolderError, match=r"has \d+ bytes, manifest\.json of run .* says"):
        awd.load_run(copy_of)


def test_not_a_run_folder(tmp_path):
    with pytest.raises(awd.RunFolderError, match="no summary.json"):
        awd.load_run(tmp_path)
    (tmp_path / "summary.json").write_text("{}")
    with pytest.raises(awd.RunFolderError, match="no manifest.json"):
        awd.load_run(tmp_path)
