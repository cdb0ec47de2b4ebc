"""Compares two output trees byte for byte, timing aside (tests/same_bytes.sh).

Is: the comparison step of the behaviour-unchanged check. Is not: a numerical tolerance check;
every value other than the timing fields named here must have the same bytes.
Exits 1 naming each differing, missing or extra file.
"""
import csv
import io
import json
import os
import re
import sys

# JSON keys that hold wall-clock measurements or a per-run random id, nothing computed, and the
# provenance record (version, commit, command line, BLAS kernel), which names the program that ran.
TIMING_KEYS = {"seconds", "stage_seconds", "seconds_hessian", "seconds_eigen", "gemm_gflops", "run_id", "provenance"}
# CSV columns that hold wall-clock measurements.
TIMING_COLUMNS = {"seconds"}
# Files that hold timings only, and console logs (a sweep's RUN.train.log and RUN.duality.log:
# absolute paths, process ids and stage timings; the values they print are in the run's JSON).
TIMING_FILES = {"times.txt"}
CONSOLE_LOG_SUFFIX = ".log"
# The date cairo writes into every PDF (gnuplot's pdfcairo terminal; cairo here ignores
# SOURCE_DATE_EPOCH): the moment the figure was drawn, nothing computed.
PDF_DATE = re.compile(rb"/(CreationDate|ModDate) \(D:[0-9Z+'-]*\)")


def strip_json(value):
    if isinstance(value, dict):
        return {k: strip_json(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [strip_json(v) for v in value]
    return value


def strip_csv(data):
    rows = list(csv.reader(io.StringIO(data.decode())))
    if not rows:
        return rows
    keep = [i for i, name in enumerate(rows[0]) if name not in TIMING_COLUMNS]
    return [[row[i] for i in keep if i < len(row)] for row in rows]


def files(root):
    out = set()
    for dirpath, _, names in os.walk(root):
        for n in names:
            out.add(os.path.relpath(os.path.join(dirpath, n), root))
    return out


def main(base, head):
    a, b = files(base), files(head)
    bad = [f"only in base: {f}" for f in sorted(a - b)] + [f"only in head: {f}" for f in sorted(b - a)]
    timing_only = set()  # files whose bytes differ in timing fields only
    manifests = []
    for f in sorted(a & b):
        if os.path.basename(f) in TIMING_FILES or f.endswith(CONSOLE_LOG_SUFFIX):
            continue
        x = open(os.path.join(base, f), "rb").read()
        y = open(os.path.join(head, f), "rb").read()
        if x == y:
            continue
        if os.path.basename(f) == "manifest.json":
            manifests.append(f)
            continue
        if f.endswith(".json") and strip_json(json.loads(x)) == strip_json(json.loads(y)):
            timing_only.add(f)
        elif f.endswith(".csv") and strip_csv(x) == strip_csv(y):
            timing_only.add(f)
        elif f.endswith(".pdf") and PDF_DATE.sub(b"", x) == PDF_DATE.sub(b"", y):
            timing_only.add(f)
        else:
            bad.append(f"differs: {f}")
    # A manifest lists each file's size and checksum: those of timing-only files may differ.
    for f in manifests:
        folder = os.path.dirname(f)

        def entries(root):
            m = json.load(open(os.path.join(root, f)))
            for e in m.get("files", []):
                if os.path.join(folder, e.get("name", "")) in timing_only:
                    e.pop("crc32", None), e.pop("bytes", None)
            return strip_json(m)
        if entries(base) != entries(head):
            bad.append(f"differs: {f}")
    for line in bad:
        print(line)
    print(f"compared {len(a & b)} files: {len(bad)} differ, {len(timing_only)} differ in timing fields only")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
