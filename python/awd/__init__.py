"""awd from Python: read what the awd program writes, and run it.

    import awd
    run = awd.run("train", data="synthetic", arch="4-8-3", epochs=20)   # build/awd train ...
    run.summary["test_accuracy"], run.state_dict["0.weight"].shape, run.data["X_train"]
    same = awd.load_run(run.path)        # verified against manifest.json: a changed file raises

Pure Python over NumPy; the numbers all come from the C++ program (see the repository's README).
"""
from .cli import AwdError, binary, run
from .folders import (Folder, Run, RunFolderError, Sweep, load_continual, load_folder, load_gan, load_landscape, load_run,
                      load_sweep, verify_manifest)

__version__ = "0.1.0"
__all__ = ["AwdError", "Folder", "Run", "RunFolderError", "Sweep", "binary", "load_continual", "load_folder", "load_gan",
           "load_landscape", "load_run", "load_sweep", "run", "verify_manifest"]
