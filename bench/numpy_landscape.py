#!/usr/bin/python3
"""Vectorized NumPy peers of the SGD-landscape simulations (experiments/sgd), float64, one thread.

Each is the simulator a NumPy user would write: arrays over the runs, the closed-form gradient
(and for two-valley the closed-form 2 x 2 Hessian and its eigen-decomposition), one
standard_normal draw per step. They are the peers to beat for elementwise work (bench_landscape.cpp)
and, run against `awd landscape`, a check that awd simulates the same process (same P_flat and
drift within statistical error; their random streams differ, so only the statistics can agree).

usage: numpy_landscape.py two-valley RUNS STEPS    seconds per step of the update (eta 0.01, sigma 0.1, y0 5)
       numpy_landscape.py valley RUNS STEPS        the same for the Langevin valley (eta 0.01, Delta 1e-3, kappa 10)
       numpy_landscape.py normals RUNS STEPS       seconds per step of standard_normal((2, RUNS)), the peers' draw
       numpy_landscape.py check AWD                runs both here and with AWD, compares, exits 1 on disagreement
Timing modes (CPU time of this process: the machine is shared) print key=value pairs on their last line.
"""
import json, math, os, subprocess, sys, tempfile, time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np

X1, X2, X0, F0, YB, YF, YD, LD = 0.8, 0.65, 1.0, 1.0, 30.0, 20.0, 100.0, 1.0


def two_valley(runs, steps, eta=0.01, sigma=0.1, y0=5.0, x_start=0.01, seed=0):
    """Returns (P_flat, alive runs, seconds per step)."""
    rng = np.random.default_rng(seed)
    x = np.where(np.arange(runs) % 2 == 0, x_start, -x_start)
    y = np.full(runs, y0)
    dead = np.zeros(runs, bool)
    scale = math.sqrt(2 * sigma)
    start = time.process_time()
    for _ in range(steps):
        flat = x >= 0
        a = np.where(flat, X1, -X2)                       # x (x - 2 a q) / (c r^2): a = x1 or -x2
        c = np.where(flat, F0 * (X1 / X0) ** 2, F0 * (X2 / X0) ** 2)
        den = y + YB
        q, q1, q2 = y / den, YB / den**2, -2 * YB / den**3
        r, r1, r2 = (y + YF) / den, (YB - YF) / den**2, -2 * (YB - YF) / den**3
        w, w1, w2 = c * r * r, 2 * c * r * r1, 2 * c * (r1 * r1 + r * r2)
        u, uy, uyy = x * x - 2 * a * q * x, -2 * a * x * q1, -2 * a * x * q2
        e = np.exp(-y / YD)
        gx = (2 * x - 2 * a * q) / w
        gy = uy / w - u * w1 / w**2 - LD / YD * e
        hxx = 2 / w
        hxy = (-2 * a * q1 * w - (2 * x - 2 * a * q) * w1) / w**2
        hyy = uyy / w - 2 * uy * w1 / w**2 - u * w2 / w**2 + 2 * u * w1**2 / w**3 + LD / YD**2 * e
        # (H+)^(1/2) in closed form: eigenvalues mid +- half_gap, top eigenvector at angle phi
        mid, half_gap = 0.5 * (hxx + hyy), np.hypot(0.5 * (hxx - hyy), hxy)
        phi = 0.5 * np.arctan2(2 * hxy, hxx - hyy)
        cs, sn = np.cos(phi), np.sin(phi)
        s1, s2 = np.sqrt(np.maximum(mid + half_gap, 0)), np.sqrt(np.maximum(mid - half_gap, 0))
        z = rng.standard_normal((2, runs))
        xi_x = scale * ((s1 * cs * cs + s2 * sn * sn) * z[0] + (s1 - s2) * cs * sn * z[1])
        xi_y = scale * ((s1 - s2) * cs * sn * z[0] + (s1 * sn * sn + s2 * cs * cs) * z[1])
        x = np.where(dead, x, x - eta * (gx + xi_x))
        y = np.where(dead, y, y - eta * (gy + xi_y))
        bad = ~np.isfinite(x) | ~np.isfinite(y) | (np.abs(x) > 1e3) | (y < -YF / 2) | (np.abs(y) > 1e6)
        dead |= bad
        x, y = np.where(dead, x_start, x), np.where(dead, y0, y)
    seconds = (time.process_time() - start) / steps
    alive = int((~dead).sum())
    return float((x[~dead] >= 0).mean()) if alive else 0.0, alive, seconds


def valley(runs, steps, eta=0.01, delta=1e-3, kappa=10.0, lambda0=1.0, ell=1.0, x0=0.0, seed=0):
    """Langevin drive: returns (drift velocity d<x>/dt, its standard error, seconds per step)."""
    rng = np.random.default_rng(seed)
    x, y = np.full(runs, x0), np.zeros(runs)
    sd = np.array([[math.sqrt(2 * delta / kappa / eta)], [math.sqrt(2 * delta / eta)]])  # along x, across y
    start = time.process_time()
    for _ in range(steps):
        lam = lambda0 * np.exp(x / ell)
        gx, gy = 0.5 * lam * y * y / ell, lam * y
        z = sd * rng.standard_normal((2, runs))
        x, y = x - eta * (gx + z[0]), y - eta * (gy + z[1])
    seconds = (time.process_time() - start) / steps
    t = eta * steps
    return float((x - x0).mean() / t), float((x - x0).std(ddof=1) / math.sqrt(runs) / t), seconds


def normals(runs, steps, seed=0):
    """The draw of one step of both peers alone: (seconds per step,)."""
    rng = np.random.default_rng(seed)
    start = time.process_time()
    for _ in range(steps):
        rng.standard_normal((2, runs))
    return ((time.process_time() - start) / steps,)


def check(awd):
    """Same settings here and in awd; each statistic must agree within 4 combined standard errors."""
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        def run_awd(args, name):  # a folder per run: awd refuses to overwrite a run of other flags
            subprocess.run([awd, "landscape", "--threads", "1", "--out", os.path.join(tmp, name)] + args, check=True, stdout=subprocess.DEVNULL)
            with open(os.path.join(tmp, name, "summary.json")) as f:
                return json.load(f)

        for eta, sigma in [(0.05, 0.05), (0.1, 0.1)]:
            runs, steps = 4000, 1500
            s = run_awd(["--model", "two-valley", "--eta", str(eta), "--sigma", str(sigma), "--runs", str(runs), "--steps", str(steps)], f"tv-{eta}-{sigma}")
            cell = s["cells"][0]
            p_awd, se_awd = cell["P_flat"], cell["P_flat_stderr"]
            p_np, alive, _ = two_valley(runs, steps, eta, sigma, seed=7)
            se_np = math.sqrt(p_np * (1 - p_np) / max(alive, 1))
            z = abs(p_awd - p_np) / math.sqrt(se_awd**2 + se_np**2)
            good = z < 4
            ok &= good
            print(f"two-valley eta {eta} sigma {sigma}: P_flat awd {p_awd:.4f} +- {se_awd:.4f}, numpy {p_np:.4f} +- {se_np:.4f}, "
                  f"|z| {z:.2f} {'ok' if good else 'DISAGREE'}")
        for delta in [1e-3, 1e-2]:
            runs, steps = 2000, 3000
            s = run_awd(["--model", "valley", "--drive", "langevin", "--delta", str(delta), "--runs", str(runs), "--steps", str(steps)], f"v-{delta}")
            cell = s["cells"][0]
            v_awd, se_awd = cell["drift_velocity"], cell["drift_velocity_stderr"]
            v_np, se_np, _ = valley(runs, steps, delta=delta, seed=7)
            z = abs(v_awd - v_np) / math.sqrt(se_awd**2 + se_np**2)
            good = z < 4
            ok &= good
            print(f"valley Delta {delta}: drift awd {v_awd:.5f} +- {se_awd:.5f}, numpy {v_np:.5f} +- {se_np:.5f}, "
                  f"|z| {z:.2f} {'ok' if good else 'DISAGREE'}")
    print("numpy_check=" + ("agree" if ok else "DISAGREE"))
    return 0 if ok else 1


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "check":
        sys.exit(check(sys.argv[2]))
    runs, steps = int(sys.argv[2]), int(sys.argv[3])
    simulate = {"two-valley": two_valley, "valley": valley, "normals": normals}[mode]
    best = min(simulate(runs, steps)[-1] for _ in range(3))
    print(f"cpu_seconds_per_step={best} run_steps_per_cpu_s={runs / best}")
