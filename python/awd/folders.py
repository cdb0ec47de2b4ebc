"""Reading what awd writes: run folders, their analyses, sweeps and the papers' outputs.

Pure Python over NumPy. Nothing here computes a result: it reads files, checks that they belong
to the run (manifest.json: size and CRC-32 of every file at the folder's top level, written last
by `awd train`), and names them the way a PyTorch user expects. A folder without a manifest
(gan, landscape and continual runs are renamed into place whole instead) is read as it is.
"""
import json
import os
import zlib
from collections import OrderedDict

import numpy as np


class RunFolderError(ValueError):
    """A folder that is not what it claims to be: the message names the file and the problem."""


def _crc32(path):
    crc = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            crc = zlib.crc32(block, crc)
    return crc & 0xFFFFFFFF


def verify_manifest(path):
    """Checks every file manifest.json lists: present, of its size, with its CRC-32. Returns the
    manifest (a dict), or None when the folder has none. Raises RunFolderError naming the file."""
    manifest_path = os.path.join(path, "manifest.json")
    if not os.path.isdir(path):
        raise RunFolderError(f"run folder {path} does not exist")
    if not os.path.exists(manifest_path):
        return None
    try:
        with open(manifest_path) as f:
            manifest = json.load(f)
        entries = [(e["name"], int(e["bytes"]), int(e["crc32"], 16)) for e in manifest["files"]]
        run_id = manifest["run_id"]
    except (ValueError, KeyError, TypeError) as e:
        raise RunFolderError(f"{manifest_path}: not a manifest awd wrote ({e!r})") from None
    for name, size, crc in entries:
        file = os.path.join(path, name)
        if os.path.basename(name) != name or name in ("", ".", ".."):
            raise RunFolderError(f"{manifest_path}: '{name}' is not a file name of the folder")
        if not os.path.isfile(file):
            raise RunFolderError(f"{file} is listed in manifest.json (run {run_id}) but missing: the folder is incomplete")
        if os.path.getsize(file) != size:
            raise RunFolderError(f"{file} has {os.path.getsize(file)} bytes, manifest.json of run {run_id} says {size}: "
                                 "the file does not belong to this run")
        if _crc32(file) != crc:
            raise RunFolderError(f"{file}: checksum differs from manifest.json of run {run_id}: the file does not belong to this run")
    return manifest


def read_csv(path):
    """A CSV awd wrote: a structured array when the first line is a header, else a 2-D float array."""
    with open(path) as f:
        first = f.readline()
    try:
        [float(x) for x in first.strip().split(",")]
        header = False
    except ValueError:
        header = True
    if not header:
        return np.loadtxt(path, delimiter=",", ndmin=2)
    table = np.genfromtxt(path, delimiter=",", names=True, dtype=None, encoding="utf-8")
    return np.atleast_1d(table)


class Folder:
    """Every file at a folder's top level, read by its kind: .json (dicts), .npy (arrays under the
    file name without .npy), .csv (tables under the file name without .csv); figures by path.

        path      the folder
        json      {"summary": {...}, "duality": {...}, ...}       (file name without .json)
        arrays    {"W0": ndarray, "eigenvalues": ndarray, ...}
        tables    {"log": structured array, "R": 2-D array, ...}
        figures   {"spectrum": ".../spectrum.png", ...}           (PNG; SVG and PDF beside them when drawn)
        folders   {"hessian-layer1": Folder, ...}                 subfolders that hold any of these
    """

    def __init__(self, path, verify=True):
        self.path = os.fspath(path)
        self.manifest = verify_manifest(self.path) if verify else None
        if not os.path.isdir(self.path):
            raise RunFolderError(f"folder {self.path} does not exist")
        self.json, self.arrays, self.tables, self.figures, self.folders = {}, {}, {}, {}, {}
        for name in sorted(os.listdir(self.path)):
            file = os.path.join(self.path, name)
            stem, ext = os.path.splitext(name)
            if name.startswith(".") or ".partial" in name or ".tmp." in name:
                continue  # a writer's lock or temporaries, never part of the run
            try:
                if os.path.isdir(file):
                    sub = Folder(file, verify=verify)
                    if sub.json or sub.arrays or sub.tables:
                        self.folders[name] = sub
                elif ext == ".json" and name != "manifest.json":
                    with open(file) as f:
                        self.json[stem] = json.load(f)
                elif ext == ".npy":
                    self.arrays[stem] = np.load(file, allow_pickle=False)
                elif ext == ".csv":
                    self.tables[stem] = read_csv(file)
                elif ext == ".png":
                    self.figures[stem] = file
            except RunFolderError:
                raise
            except (ValueError, OSError) as e:
                raise RunFolderError(f"{file}: cannot be read ({e})") from None

    @property
    def summary(self):
        """summary.json as a dict ({} when the folder has none)."""
        return self.json.get("summary", {})

    def __repr__(self):
        parts = [f"{len(getattr(self, k))} {k}" for k in ("json", "arrays", "tables", "folders") if getattr(self, k)]
        return f"{type(self).__name__}({self.path!r}: {', '.join(parts)})"


class Run(Folder):
    """A run folder of `awd train`, checked against its manifest.

        summary      summary.json (results, the full configuration, provenance)
        state_dict   OrderedDict {"0.weight": (n_out, n_in), "0.bias": ..., "2.weight": ...}: the names of
                     torch.nn.Sequential(Linear, activation, Linear, ..., Linear); load with
                     net.load_state_dict({k: torch.from_numpy(v) for k, v in run.state_dict.items()})
        data         {"X_train", "y_train", "X_test", "y_test", "noisy_train"}: exactly what the net saw
        log          per-epoch log (structured array: epoch, lr, train_loss, ...)
        hessian(l), duality(l)   the analyses written into the run folder (None when absent)
    """

    def __init__(self, path):
        if not os.path.isfile(os.path.join(path, "summary.json")):
            raise RunFolderError(f"{path} is not a run folder: no summary.json (written by awd train)")
        super().__init__(path, verify=True)
        if self.manifest is None:
            raise RunFolderError(f"{path} is not a complete run folder: no manifest.json (written last by awd train)")
        widths = [int(w) for w in self.summary["arch"].split("-")]
        self.state_dict = OrderedDict()
        index = 0  # position in the Sequential: Linear, activation, [Dropout,] Linear, ...
        for layer in range(len(widths) - 1):
            W = self.arrays.get(f"W{layer}")
            if W is None:
                raise RunFolderError(f"{os.path.join(path, f'W{layer}.npy')} is missing: summary.json field arch is {self.summary['arch']}")
            if W.shape != (widths[layer + 1], widths[layer]):
                raise RunFolderError(f"{os.path.join(path, f'W{layer}.npy')}: shape {W.shape}, summary.json field arch "
                                     f"{self.summary['arch']} needs {(widths[layer + 1], widths[layer])}")
            self.state_dict[f"{index}.weight"] = W
            if self.summary.get("bias"):
                self.state_dict[f"{index}.bias"] = self.arrays[f"b{layer}"]
            dropout = self.summary.get("config", {}).get("dropout", 0) > 0 and layer + 1 == self.summary["config"]["dropout-layer"]
            index += 3 if dropout else 2
        self.data = {k: self.arrays[k] for k in ("X_train", "y_train", "X_test", "y_test", "noisy_train") if k in self.arrays}
        self.log = self.tables.get("log")

    def hessian(self, layer=None):
        """The folder `awd hessian --layer L` wrote (hessian-all without a layer), or None."""
        return self.folders.get("hessian-all" if layer is None else f"hessian-layer{layer}")

    def duality(self, layer=1):
        """The folder `awd duality --layer L` wrote, or None."""
        return self.folders.get(f"duality-layer{layer}")


def load_run(path):
    """A run folder of `awd train`, verified against its manifest (a changed or missing file raises
    RunFolderError naming it): summary, state_dict, data splits, log, and its analyses."""
    return Run(path)


def load_folder(path):
    """Any folder awd writes (analyses, gan, landscape, continual, results): see Folder."""
    return Folder(path)


class Sweep(Folder):
    """A folder of `awd sweep`: table (sweep.csv: one row per run), summary (sweep_summary.json) and
    the runs themselves (run(value, seed) loads one)."""

    def __init__(self, path):
        if not os.path.isfile(os.path.join(path, "sweep.csv")):
            raise RunFolderError(f"{path} is not a sweep folder: no sweep.csv (written by awd sweep)")
        super().__init__(path, verify=False)
        self.table = self.tables["sweep"]
        self.summary_json = self.json.get("sweep_summary", {})

    def frame(self):
        """The table as a pandas DataFrame (pandas must be installed)."""
        import pandas
        return pandas.DataFrame(self.table)

    def run(self, value, seed):
        """The run of one value and seed (PARAM=VALUE/seedS), loaded and verified."""
        for row in self.table:
            if str(row["value"]) == str(value) and int(row["seed"]) == int(seed):
                return load_run(os.path.join(self.path, f"{row['param']}={row['value']}", f"seed{int(row['seed'])}"))
        raise KeyError(f"{self.path}/sweep.csv has no run of value {value}, seed {seed}")


def load_sweep(path):
    """A sweep folder: .table is sweep.csv as a NumPy structured array (.frame() for pandas)."""
    return Sweep(path)


def _paper_folder(path, needed, command):
    folder = Folder(path)
    missing = [n for n in needed if not os.path.exists(os.path.join(folder.path, n))]
    if missing:
        raise RunFolderError(f"{folder.path} is not a folder of `{command}`: {', '.join(missing)} missing")
    return folder


def load_gan(path):
    """`awd gan` (summary, particles, particles_start, discriminator_theta, trajectory) or
    `awd gan-paper` (gan_paper.json and the tables of its figures: transition, mnist, damping)."""
    if os.path.exists(os.path.join(path, "gan_paper.json")):
        return _paper_folder(path, ["gan_paper.json"], "awd gan-paper")
    return _paper_folder(path, ["summary.json", "particles.npy", "trajectory.csv"], "awd gan")


def load_landscape(path):
    """`awd landscape`: summary (every cell's statistics) and trace."""
    return _paper_folder(path, ["summary.json", "trace.csv"], "awd landscape")


def load_continual(path):
    """`awd continual`: summary (RA, LA, BTI, settings), R (accuracy on task j after training task i)
    and curve; or `awd continual-table` (table.md, gap.csv)."""
    if os.path.exists(os.path.join(path, "gap.csv")):
        return _paper_folder(path, ["gap.csv"], "awd continual-table")
    return _paper_folder(path, ["summary.json", "R.csv", "curve.csv"], "awd continual")
