"""Draw Lab 04's two figures from this machine's own measurements (`make plots`).

    python3 harness/plots.py [--impl solutions|labs|PATH] [--out DIR | --update-figures]
                             [--rounds 200] [--warmup 5] [--runs 5] [--duration-ms 300]

It builds Lab 04 WITHOUT sanitizers, so that the numbers are honest, runs its `nodelay`
and `bufsize` experiments, and writes into out/plots/ (or --out DIR):

    nagle-latency.png       the latency of every round, without and with TCP_NODELAY
    bufsize-throughput.png  throughput against the SO_SNDBUF/SO_RCVBUF request
                            (median of --runs runs, with their range)
    plots.json              the measurements behind both, and whose code and which machine

Whose code: the reference solution where the kit has one (a maintainer's checkout), else
the student's own labs/04-sockopts (a handout); --impl chooses. The program says which
at the start and at the end, and each figure names it, with the machine and the date.

The handout's own figures (docs/img/, embedded in labs/04-sockopts/README.md §5 and §6)
change only with --update-figures (`make plots UPDATE_FIGURES=1`), and only from the
reference solution: a student's run never overwrites them. Needs python3-matplotlib
(Debian); `make plots` installs it.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

KIT = Path(__file__).resolve().parent.parent
if str(KIT) not in sys.path:
    sys.path.insert(0, str(KIT))

from harness import paths  # noqa: E402
from harness.build import build_lab  # noqa: E402

SIZES = [2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144, 1 << 20, 4 << 20, 8 << 20]


def run_experiment(binary: Path, *args, timeout: float = 300) -> list[dict]:
    """Run `sockopt_lab ARGS` and return its JSON lines; exit with its stderr if it fails."""
    cmd = [str(binary), *map(str, args)]
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    if r.returncode != 0:
        sys.exit(f"plots: `{' '.join(cmd)}` failed ({r.returncode}):\n{r.stderr.decode(errors='replace')}")
    return [json.loads(line) for line in r.stdout.decode().splitlines() if line.strip()]


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else platform.processor(), else ''."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.processor()


def machine_line() -> str:
    """'host (Intel Xeon ...), Linux 6.1.0, 2 CPUs, 2025-01-31': where and when it was measured."""
    model = cpu_model()
    return (f"{platform.node()}{f' ({model})' if model else ''}, {platform.system()} {platform.release()}, "
            f"{os.cpu_count()} CPUs, {datetime.date.today().isoformat()}")


def whose(lab: paths.Lab, src: Path) -> str:
    """'the reference solution', 'your code in labs/04-sockopts' or 'the code in PATH'."""
    src = src.resolve()
    if src == lab.solution.resolve():
        return "the reference solution (solutions/%s)" % lab.name
    if src == lab.skeleton.resolve():
        return "your code in labs/%s" % lab.name
    return f"the code in {src}"


def size_label(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB"


def short_size(n: int) -> str:
    """4608 -> '4.5K', 2097152 -> '2M': the read-back values under the points."""
    if n >= 1 << 20:
        return f"{n / (1 << 20):g}M"
    return f"{n / 1024:g}K"


def plot_nagle(plt, lines: list[dict], out: Path, code: str) -> None:
    """Every round's latency (log scale), both halves, warm-up rounds drawn hollow."""
    fig, ax = plt.subplots(figsize=(9, 5.2), dpi=110)
    styles = {0: ("without TCP_NODELAY (Nagle on)", "tab:red"), 1: ("with TCP_NODELAY", "tab:blue")}
    for nodelay, (label, colour) in styles.items():
        rounds = [l for l in lines if l["kind"] == "round" and l["nodelay"] == nodelay]
        warm = [l for l in rounds if l["warmup"]]
        meas = [l for l in rounds if not l["warmup"]]
        nwarm = len(warm)
        ax.scatter([l["round"] - nwarm for l in warm], [l["latency_us"] for l in warm], s=28,
                   facecolors="none", edgecolors=colour, label=f"{label}: warm-up rounds (not measured)")
        ax.scatter([l["round"] for l in meas], [l["latency_us"] for l in meas], s=10, color=colour,
                   label=f"{label}: measured rounds")
        s = next(l for l in lines if l["kind"] == "summary" and l["nodelay"] == nodelay)
        ax.axhline(s["p50_us"], color=colour, lw=0.8, ls="--")
        text = (f"p50 {s['p50_us'] / 1000:.1f} ms, p99 {s['p99_us'] / 1000:.1f} ms" if s["p50_us"] >= 1000
                else f"p50 {s['p50_us']:.1f} µs, p99 {s['p99_us']:.1f} µs")
        ax.annotate(text, (max(l["round"] for l in meas), s["p50_us"]), textcoords="offset points",
                    xytext=(-4, 6), ha="right", color=colour, fontsize=9)
    ax.set_yscale("log")
    ax.set_xlabel("round (negative: warm-up rounds before the measured ones)")
    ax.set_ylabel("request/response latency (µs, log scale)")
    ax.set_title("Nagle + delayed ACK on loopback: 10 B header + 10 B body, then a 10 B reply\n"
                 + machine_line() + "\nmeasured with " + code, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="center right")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def plot_bufsize(plt, runs: list[list[dict]], out: Path, code: str) -> None:
    """Median throughput per requested size with the range of the runs, and the cap marked."""
    fig, ax = plt.subplots(figsize=(9, 5.2), dpi=110)
    sizes = [l["requested"] for l in runs[0]]
    per_size = [[r[i]["mb_per_s"] for r in runs] for i in range(len(sizes))]
    med = [statistics.median(v) for v in per_size]
    lo = [m - min(v) for m, v in zip(med, per_size)]
    hi = [max(v) - m for m, v in zip(med, per_size)]
    ax.errorbar(sizes, med, yerr=[lo, hi], fmt="o-", color="tab:green", capsize=3,
                label=f"median of {len(runs)} runs (bars: lowest to highest)")
    first = runs[0]
    # The read-back values in a row along the top: x in data units, y in axes units.
    row = ax.get_xaxis_transform()
    for l in first:
        ax.text(l["requested"], 0.96, short_size(l["sndbuf"]), transform=row, ha="center",
                fontsize=7, color="gray")
    cap = first[0].get("rmem_max")
    if isinstance(cap, int) and cap > 0:
        ax.axvline(cap, color="gray", ls="--", lw=0.8)
        ax.text(cap, 0.86, f"net.core.rmem_max = {size_label(cap)}: \nlarger requests are capped ",
                transform=ax.get_xaxis_transform(), ha="right", va="top", fontsize=8, color="gray")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes)
    ax.set_xticklabels([size_label(s) for s in sizes], rotation=45, fontsize=8)
    ax.set_xlabel("SO_SNDBUF and SO_RCVBUF requested, per socket (log scale); in gray: SO_SNDBUF read back")
    ax.set_ylabel("throughput (MB/s, 1 MB = 10⁶ bytes)")
    dur = first[0]["seconds"]
    ax.set_title(f"Bulk TCP throughput on loopback against socket buffer size ({dur:.1f} s per point)\n"
                 + machine_line() + "\nmeasured with " + code, fontsize=9)
    ax.grid(True, alpha=0.3)
    # Head room above the highest error bar, so that the row of read-back values and the
    # cap's note (at 96% and 86% of the height) never cross a bar.
    ax.set_ylim(0, max(max(v) for v in per_size) * 1.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def write_data(path: Path, data: dict) -> None:
    """The measurements as JSON, one line per measurement, so that a diff shows what changed."""
    lines = []
    for key, value in data.items():
        if isinstance(value, list):
            inner = ",\n".join("  " + json.dumps(v, separators=(",", ":")) for v in value)
            lines.append(f"{json.dumps(key)}: [\n{inner}\n]")
        else:
            lines.append(f"{json.dumps(key)}: {json.dumps(value)}")
    path.write_text("{\n" + ",\n".join(lines) + "\n}\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="harness/plots.py", description=__doc__.split("\n\n")[0])
    lab = paths.find_lab("04")
    has_solution = lab.solution.is_dir()
    ap.add_argument("--impl", default="solutions" if has_solution else "labs",
                    help="whose sockopt_lab to run: solutions (the default where the kit has them), "
                         "labs (your code, the default in a handout), or a folder")
    ap.add_argument("--out", default=None, help="where the PNGs go (default out/plots)")
    ap.add_argument("--update-figures", action="store_true",
                    help="write the handout's own figures in docs/img (maintainers: the reference solution only)")
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--runs", type=int, default=5, help="bufsize runs to take the median of")
    ap.add_argument("--duration-ms", type=int, default=300)
    args = ap.parse_args(argv)

    src = paths.resolve_impl(lab, args.impl)
    code = whose(lab, src)
    if args.update_figures:
        if not has_solution or src.resolve() != lab.solution.resolve():
            print(f"plots: --update-figures redraws the handout's figures from the reference solution only; "
                  f"this run would measure {code}. Leave it out to draw into out/plots/.", file=sys.stderr)
            return 2
        if args.out:
            print("plots: give --out or --update-figures, not both", file=sys.stderr)
            return 2
        out = KIT / "docs" / "img"
    else:
        out = Path(args.out) if args.out else KIT / "out" / "plots"

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    print(f"plots: measuring {code}, built without sanitizers", flush=True)
    # Under out/, root's alone (0700) when run as root: the reference programs are for nobody else.
    from harness.sandbox import private_folder
    build = build_lab(lab, src, private_folder(KIT / "out") / "plots" / "build", sanitize=False)
    if not build.ok:
        sys.exit(f"plots: the build of {code} failed:\n{build.log}")
    binary = build.path("sockopt_lab")
    out.mkdir(parents=True, exist_ok=True)

    print(f"plots: nodelay, {args.rounds} rounds after {args.warmup} warm-up, each way ...", flush=True)
    nagle = run_experiment(binary, "nodelay", "--rounds", args.rounds, "--warmup", args.warmup)
    plot_nagle(plt, nagle, out / "nagle-latency.png", code)
    print(f"plots: bufsize, {len(SIZES)} sizes x {args.duration_ms} ms, {args.runs} runs ...", flush=True)
    runs = [[l for l in run_experiment(binary, "bufsize", "--sizes", ",".join(map(str, SIZES)),
                                       "--duration-ms", args.duration_ms) if l["kind"] == "size"]
            for _ in range(args.runs)]
    plot_bufsize(plt, runs, out / "bufsize-throughput.png", code)
    write_data(out / "plots.json", {
        "code": code, "machine": machine_line(),
        "bufsize_median_mb_per_s": {str(runs[0][i]["requested"]): statistics.median(r[i]["mb_per_s"] for r in runs)
                                    for i in range(len(runs[0]))},
        "nodelay": nagle, "bufsize_runs": runs,
    })
    for name in ("nagle-latency.png", "bufsize-throughput.png", "plots.json"):
        print(f"plots: wrote {out / name}")
    print("plots: median MB/s by request: " + ", ".join(
        f"{size_label(runs[0][i]['requested'])} {statistics.median(r[i]['mb_per_s'] for r in runs):.0f}"
        for i in range(len(runs[0]))))
    print(f"plots: these figures measured {code} on {machine_line()}"
          + ("" if args.update_figures else "; the handout's own figures in docs/img are unchanged"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
