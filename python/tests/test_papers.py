"""The loaders of the papers' outputs, on small runs of each command."""
import os

import numpy as np
import pytest

import awd


def test_gan(tmp_path):
    g = awd.run("gan", target="ring8", particles=16, steps=20, record_every=5, snapshots=0, out=tmp_path / "gan")
    assert g.arrays["particles"].shape == (16, 2)
    assert np.array_equal(g.arrays["particles"], np.load(tmp_path / "gan" / "particles.npy"))
    assert list(g.tables["trajectory"]["step"])[-1] == 20
    assert g.summary["collapse_score"] == pytest.approx(g.tables["trajectory"]["collapse_score"][-1], rel=1e-9)


def test_landscape(tmp_path):
    v = awd.run("landscape", model="valley", drive="langevin", kappa=10, delta=[1e-3, 1e-2], runs=20, steps=200,
                out=tmp_path / "valley")
    assert v.summary["provenance"]["command"] == "landscape"
    assert len(v.tables["trace"]) > 0


def test_continual_and_sweep_loaders_refuse_other_folders(tiny_run):
    with pytest.raises(awd.RunFolderError, match="not a folder of `awd continual`: R.csv, curve.csv missing"):
        awd.load_continual(tiny_run.path)
    with pytest.raises(awd.RunFolderError, match="not a sweep folder: no sweep.csv"):
        awd.load_sweep(tiny_run.path)
    with pytest.raises(awd.RunFolderError, match="not a folder of `awd gan`"):
        awd.load_gan(tiny_run.path)


def test_continual(tmp_path):
    c = awd.run("continual", stream="rotations", method="er", tasks=2, per_task=20, test=40, pool_per_class=10, hidden=10,
                memories=20, replay=5, curve_every=10, out=tmp_path / "c")
    R = c.tables["R"]
    assert R.shape == (2, 2) and np.all((R >= 0) & (R <= 1))
    assert c.summary["RA"] == pytest.approx(R[-1].mean(), rel=1e-12)
