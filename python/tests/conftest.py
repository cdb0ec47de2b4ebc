"""Fixtures: one tiny run of the awd program (synthetic data, seconds), shared by the tests.
The package is imported from the checkout (python/), the program is build/awd."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import awd  # noqa: E402

TINY = dict(data="synthetic", arch="4-6-5-3", train_per_class=20, test=30, epochs=5, lr=0.05, seed=3)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A trained run with the Hessian of layer 1 (--eig) and the duality of layer 1 in it."""
    out = tmp_path_factory.mktemp("awd") / "tiny"
    run = awd.run("train", out=out, no_bias=True, **TINY)
    awd.run("hessian", model=out, layer=1, eig=True)
    awd.run("duality", model=out, layer=1)
    return awd.load_run(out)
