"""Running the awd program from Python: run("train", arch="784-30-30-10", no_bias=True, out="runs/x").

Flags are keyword arguments with - written as _; True gives a bare flag, False or None leaves it
out, a list or tuple is joined with commas. The output folder is --out when given, else a new
temporary folder (train, gan, landscape, continual, sweep) or the command's own default (hessian
and duality write into the run folder). The result is read back with the loader of its kind.
A failure raises AwdError with the program's own message and exit code (2: a flag refused,
1: any other error).
"""
import os
import shutil
import subprocess
import tempfile

from . import folders


class AwdError(RuntimeError):
    """awd exited with an error. message: what it said (its "awd: error:" line, or CLI11's refusal);
    returncode; command: the argument list; stdout, stderr: everything it printed."""

    def __init__(self, message, returncode, command, stdout, stderr):
        super().__init__(f"{message} (exit code {returncode})")
        self.message, self.returncode, self.command, self.stdout, self.stderr = message, returncode, command, stdout, stderr


def binary():
    """The awd program: $AWD_BINARY, else build/awd of the checkout this package sits in, else awd on PATH."""
    if os.environ.get("AWD_BINARY"):
        return os.environ["AWD_BINARY"]
    checkout = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "awd")
    if os.path.isfile(checkout):
        return os.path.normpath(checkout)
    found = shutil.which("awd")
    if not found:
        raise FileNotFoundError("no awd program: build it (make build/awd), or set AWD_BINARY, or put awd on PATH")
    return found


def arguments(command, flags):
    """The argument list of `awd COMMAND` with these flags."""
    args = [binary(), command]
    for key, value in flags.items():
        name = "--" + key.replace("_", "-")
        if value is True:
            args.append(name)
        elif value is False or value is None:
            continue
        elif isinstance(value, (list, tuple)):
            args += [name, ",".join(str(v) for v in value)]
        else:
            args += [name, str(value)]
    return args


def _message(stderr, stdout):
    lines = [line for line in (stderr + stdout).splitlines() if line.strip()]
    for line in lines:
        if line.startswith("awd: error: "):
            return line[len("awd: error: "):]
    lines = [line for line in lines if not line.startswith("Run with --help")]
    return lines[-1] if lines else "awd failed without a message"


LOADERS = {"train": folders.load_run, "sweep": folders.load_sweep, "gan": folders.load_gan, "gan-paper": folders.load_gan,
           "landscape": folders.load_landscape, "continual": folders.load_continual}


def run(command, cwd=None, **flags):
    """Runs `awd COMMAND --flag value ...` and returns its output folder, loaded (load_run for train,
    load_sweep, load_gan, load_landscape, load_continual; a Folder for hessian and duality).
    Raises AwdError with the program's message and exit code when it fails."""
    command = command.replace("_", "-")
    if flags.get("out") is None and command in LOADERS:
        flags["out"] = os.path.join(tempfile.mkdtemp(prefix=f"awd-{command}-"), "run")
    if flags.get("out") is None and command in ("hessian", "duality"):
        layer = flags.get("layer", 1)
        flags["out"] = os.path.join(flags["model"], f"{command}-layer{layer}" if layer is not None else "hessian-all")
    args = arguments(command, flags)
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise AwdError(_message(done.stderr, done.stdout), done.returncode, args, done.stdout, done.stderr)
    out = flags.get("out")
    if out is None:
        return None
    out = os.path.join(cwd, out) if cwd and not os.path.isabs(out) else out
    return LOADERS.get(command, folders.load_folder)(out)
