"""awd.run: the program as a subprocess, its result loaded, its errors as Python exceptions."""
import numpy as np
import pytest

import awd
from conftest import TINY


def test_run_returns_the_loaded_result_and_reruns_bitwise(tiny_run, tmp_path):
    again = awd.run("train", out=tmp_path / "again", no_bias=True, **TINY)
    assert isinstance(again, awd.Run)
    for name in ["W0", "W1", "W2", "X_train"]:
        assert np.array_equal(again.arrays[name], tiny_run.arrays[name])


def test_a_flag_out_of_range_is_an_exception_with_the_message_and_exit_code_2(tmp_path):
    with pytest.raises(awd.AwdError) as e:
        awd.run("train", out=tmp_path / "x", data="synthetic", lr=-1)
    assert e.value.returncode == 2
    assert "--lr: '-1' is outside (0, inf)" in e.value.message
    assert "--lr" in str(e.value) and "exit code 2" in str(e.value)


def test_an_error_of_the_program_is_an_exception_with_exit_code_1(tmp_path):
    with pytest.raises(awd.AwdError) as e:
        awd.run("duality", model=tmp_path / "nothing-here", layer=1, out=tmp_path / "d")
    assert e.value.returncode == 1
    assert "nothing-here" in e.value.message and "does not exist" in e.value.message


def test_the_same_run_onto_its_folder_is_not_redone(tiny_run):
    again = awd.run("train", out=tiny_run.path, no_bias=True, **TINY)
    assert again.summary["run_id"] == tiny_run.summary["run_id"]
    with pytest.raises(awd.AwdError, match=r"other flags: --seed 4 \(there: 3\)"):
        awd.run("train", out=tiny_run.path, no_bias=True, **dict(TINY, seed=4))
