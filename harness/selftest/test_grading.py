"""Grading at class scale: a grader that untrusted code cannot break, batch grading,
handouts, Gradescope and GitHub Classroom, hidden tests.

The hostile corpus (harness/selftest/hostile/NAME/) holds Lab 01 submissions that misbehave:
each is the reference solution with code appended to one of its files (FILE.append; most
run in a constructor, before main()), and expect.json says which of a few selected tests
must pass and which must fail: the honest partial score. Each must get exactly that score,
within its time bound, and leave nothing running.

The slower checks (handouts built and graded, the Gradescope autograder, a small batch)
use -k to select a few tests of Lab 01 where they can.

    /usr/bin/python3 harness/selftest/test_grading.py make-class DIR N
        writes a class of N Lab 01 submissions (solutions, skeletons, mutants) for a
        batch-grading benchmark: make grade-batch LAB=01 SUBMISSIONS=DIR
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import pytest

KIT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(KIT))

from harness import handout, paths, sandbox  # noqa: E402
from harness.results import test_id as result_id  # noqa: E402
from harness.selftest.kitutil import assert_no_traceback, assert_nothing_left, leftovers, sandbox_folder  # noqa: E402,F401

LAB = paths.find_lab("01")
HOSTILE = Path(__file__).parent / "hostile"
CASES = sorted(d.name for d in HOSTILE.iterdir() if (d / "expect.json").is_file())
MODE, WHY = sandbox.probe()
PYTHON = sys.executable
#: Two tests that need each program: enough to see an honest partial score quickly.
QUICK = "server_one_message or client_one_message"


def _points_of(module: Path, name: str) -> float:
    """The @pytest.mark.points(n) of test `name` in `module` (read from its source)."""
    import ast
    for node in ast.parse(module.read_text()).body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            for d in node.decorator_list:
                if isinstance(d, ast.Call) and getattr(d.func, "attr", "") == "points":
                    return float(d.args[0].value)
    raise LookupError(f"{name} has no points marker in {module}")


#: What the QUICK tests are worth: both (FULL) and one of them (HALF; they are worth the same).
HALF = _points_of(LAB.test_module, "test_server_one_message")
FULL = HALF + _points_of(LAB.test_module, "test_client_one_message")


# ---- helpers ------------------------------------------------------------------------------
def submission(dest: Path, hostile: str | None = None, subst: dict | None = None,
               base: Path | None = None) -> Path:
    """A Lab 01 submission in `dest`: the solution (or `base`), with a hostile case's code appended."""
    shutil.copytree(base or LAB.solution, dest, ignore=shutil.ignore_patterns("mutants", "build"))
    if hostile:
        for f in sorted((HOSTILE / hostile).glob("*.append")):
            text = f.read_text()
            for k, v in (subst or {}).items():
                text = text.replace(f"@{k}@", str(v))
            with open(dest / f.stem, "a") as out:
                out.write(text)
    return dest


def grade(src: Path, out: Path, select: str | None = QUICK, timeout: float = 120, jobs: int = 1,
          extra: tuple = (), env: dict | None = None, quiet: bool = True) -> tuple[int, dict, float, str]:
    """Run the grader like an instructor; returns (exit status, results.json, seconds, output)."""
    cmd = [PYTHON, "-m", "harness.grade", "--lab", LAB.id, "--impl", str(src), "--out", str(out),
           "--jobs", str(jobs), *(["--quiet"] if quiet else []), "--timeout", str(timeout), *extra]
    if select:
        cmd += ["-k", select]
    t0 = time.monotonic()
    r = subprocess.run(cmd, cwd=KIT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout + 90, start_new_session=True, env=dict(os.environ, **(env or {})))
    seconds = time.monotonic() - t0
    data = json.loads((out / "results.json").read_text()) if (out / "results.json").is_file() else {"tests": []}
    output = r.stdout.decode("utf-8", "replace")
    assert_no_traceback(output, data)
    return r.returncode, data, seconds, output




def outcome(data: dict) -> tuple[set, set]:
    passed = {result_id(t) for t in data["tests"] if t["status"] == "passed" and t["score"] == t["max_score"]}
    failed = {result_id(t) for t in data["tests"]} - passed
    return passed, failed


class Canary:
    """A TCP server on the host's loopback (IPv4 and IPv6, one port) that records every connection."""

    def __init__(self):
        self.hits: list[str] = []
        self.socks = []
        s4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s4.bind(("127.0.0.1", 0))
        self.port = s4.getsockname()[1]
        self.socks.append(s4)
        try:
            s6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s6.bind(("::1", self.port))
            self.socks.append(s6)
        except OSError:
            pass
        for s in self.socks:
            s.listen(16)
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    def _serve(self, s: socket.socket) -> None:
        while True:
            try:
                c, addr = s.accept()
            except OSError:
                return
            self.hits.append(str(addr))
            c.close()

    def close(self) -> None:
        for s in self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


# ---- the hostile corpus -----------------------------------------------------------------------
#: Escapes that must never reach a terminal or a file raw (issue 12): ESC, CR, BEL, BS, 8-bit CSI.
RAW_ESCAPES = re.compile("[\x1b\r\x07\x08\x9b]")


def _needs(needs: str) -> str | None:
    """Why a case cannot run on this machine (None: it can)."""
    if needs in ("root", "namespaces", "bwrap") and not sandbox.at_least(MODE, "user" if needs == "root" else needs):
        return f"needs the grader's {needs} sandbox (this machine gives {MODE}: {WHY})"
    if needs == "cgroups" and (MODE == "off" or sandbox.limits.cgroup_kind() is None):
        return "needs cgroups with a memory and a pids controller (and root)"
    return None


class Planted:
    """What a spy must never reach, planted for one test: another checkout of the kit (world-
    readable, outside the kit), a Gradescope zip with hidden tests in it, reference programs
    under the kit's out/. Removed afterwards."""

    def __init__(self):
        base = Path("/srv") if os.access("/srv", os.W_OK) else Path("/var/tmp")
        self.other = Path(tempfile.mkdtemp(prefix="socklab-other-checkout-", dir=base))
        os.chmod(self.other, 0o755)
        shutil.copytree(LAB.solution, self.other / "solutions" / LAB.name,
                        ignore=shutil.ignore_patterns("mutants", "build"))
        hidden = self.other / "hidden"
        hidden.mkdir()
        (hidden / "test_lab01_secret.py").write_text("# SECRET-HIDDEN-TEST\nLAB = '01'\n")
        self.zip = self.other / "dist" / "autograder-lab01.zip"
        subprocess.run([PYTHON, "-m", "harness.autograder.build", "--lab", "01", "--hidden", str(hidden),
                        "--out", str(self.zip)], cwd=KIT, check=True, stdout=subprocess.DEVNULL, timeout=120)
        for dirpath, dirnames, files in os.walk(self.other):
            for n in dirnames:
                os.chmod(Path(dirpath) / n, 0o755)
            for n in files:
                if not n.endswith(".zip"):
                    os.chmod(Path(dirpath) / n, 0o644)   # as a careless checkout would be
        from harness.plugin import build_lab
        self.out = sandbox.private_folder(KIT / "out") / f"hostile-ref-{os.getpid()}-{time.monotonic_ns()}"
        b = build_lab(LAB, LAB.solution, self.out, sanitize=False)
        assert b.ok, b.log
        git = KIT / ".git"
        gitdir = Path(git.read_text().split("gitdir:", 1)[1].strip()) if git.is_file() else git
        self.gitdir = gitdir
        self.read = [LAB.solution / "echo_server.c", self.other / "solutions" / LAB.name / "echo_server.c",
                     self.zip, hidden / "test_lab01_secret.py", gitdir / "HEAD", KIT / ".git",
                     self.out / "echo_server", "/etc/shadow",
                     "/root/.bashrc"]
        self.run = [self.out / "echo_server", self.out / "echo_client"]

    def subst(self) -> dict:
        c = lambda paths: ", ".join(json.dumps(str(p)) for p in paths)  # noqa: E731
        return {"READ": c(self.read), "RUN": c(self.run), "GITDIR": str(self.gitdir)}

    def close(self) -> None:
        shutil.rmtree(self.other, ignore_errors=True)
        shutil.rmtree(self.out, ignore_errors=True)


def hostile_source(case: str, dest: Path, spec: dict, subst: dict) -> Path:
    """The submission of one hostile case in `dest` (the folder to grade)."""
    setup = spec.get("setup")
    if setup == "symlink-dir":
        dest.mkdir()
        (dest / LAB.name).symlink_to(LAB.solution)
        return dest
    if setup == "symlink-files":
        dest.mkdir()
        for f in LAB.solution.iterdir():
            if f.is_file():
                (dest / f.name).symlink_to(f)
        return dest
    if setup == "include-other":
        src = submission(dest, base=LAB.skeleton)
        other = Path(subst["OTHER"]) / "solutions" / LAB.name
        for name in ("echo_server.c", "echo_client.c", "netio.c"):
            (src / name).write_text(f'#include "{other / name}"\n')
        return src
    return submission(dest, case, subst)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("case", CASES)
def test_hostile_submission(case, tmp_path):
    spec = json.loads((HOSTILE / case / "expect.json").read_text())
    why = _needs(spec.get("needs", "nothing"))
    if why:
        pytest.skip(f"{case} {why}")
    canary = Canary() if case == "canary" else None
    planted = Planted() if spec.get("setup") in ("spy", "include-other") else None
    try:
        subst = {"CANARY_PORT": canary.port if canary else 9, **spec.get("subst", {})}
        if planted:
            subst.update(planted.subst(), OTHER=str(planted.other))
        src = hostile_source(case, tmp_path / "src", spec, subst)
        out = tmp_path / "out"
        rc, data, seconds, output = grade(src, out, spec["select"], timeout=spec.get("timeout", 120),
                                          env=spec.get("env"), quiet=not spec.get("escapes"))
    finally:
        if canary:
            canary.close()
        if planted:
            planted.close()
    passed, failed = outcome(data)
    assert passed == set(spec["pass"]) and failed == set(spec["fail"]), (
        f"hostile submission {case!r} ({spec['what']}): expected to pass {spec['pass']} and fail "
        f"{spec['fail']}, but it passed {sorted(passed)} and failed {sorted(failed)}:\n{output}")
    score = sum(t["score"] for t in data["tests"])
    honest = sum(t["max_score"] for t in data["tests"] if result_id(t) in spec["pass"])
    assert score == honest == data.get("score", score), f"{case}: score {score}, honest {honest}"
    assert seconds < spec["max_seconds"], f"{case}: grading took {seconds:.1f} s (bound {spec['max_seconds']} s)"
    assert_nothing_left(output)
    # Nothing the student's code wrote can stand in for the harness's observations.
    text = (out / "results.json").read_text()
    assert "HACKED" not in text and "1000" not in json.dumps(data.get("score"))
    junit = (out / "junit.xml").read_text(errors="replace") if (out / "junit.xml").is_file() else ""
    assert "HACKED" not in junit
    if spec.get("report"):
        outputs = "\n".join(t["output"] for t in data["tests"])
        assert spec["report"] in outputs and "LEAK" not in outputs, f"{case}: the submission reached what it " \
            f"must not:\n" + "\n".join(l for l in outputs.splitlines() if "hostile:" in l)
    assert "SECRET-HIDDEN-TEST" not in text + junit + output
    if spec.get("escapes"):
        where = {"the grader's output": output, "results.json": text, "junit.xml": junit}
        raw = [k for k, v in where.items() if RAW_ESCAPES.search(v.replace("\r\n", "\n"))]
        if raw and not any("textsafe" in (KIT / "harness" / f).read_text()
                           for f in ("results.py", "grade.py", "feedback.py", "procs.py", "plugin.py")):
            pytest.xfail(f"raw escapes in {raw}: harness/textsafe.printable is not applied yet")
        assert not raw, f"{case}: raw escape sequences reached {raw}"
    if MODE != "off":
        owners = {p.stat().st_uid for p in out.rglob("*")}
        assert owners <= {0}, f"{case}: files in the output folder owned by {owners}"
    assert (KIT / "harness" / "tests" / "test_lab01.py").is_file()
    # Output caps (issue 12): per program, per test and per run, with "[... N bytes cut]".
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    assert size < 16 << 20, f"{case}: the output folder holds {size >> 20} MiB"
    for name, cap in (("junit.xml", 1 << 20), ("results.json", 1 << 20), ("pytest.log", (8 << 20) + 4096)):
        if (out / name).is_file():
            assert (out / name).stat().st_size <= cap, f"{case}: {name} holds {(out / name).stat().st_size} bytes"
    if canary:
        assert not canary.hits, f"the submission reached the host's loopback: {canary.hits}"


def test_corpus_covers_the_issue():
    """The corpus has every kind of hostile submission issues 8 and 12 name."""
    assert {"forkbomb", "flood", "sleeper", "sigterm", "tamper", "canary", "deleter", "ports",
            "escape"} <= set(CASES)
    # ...and every attack of issue 12 (the batch ones are in test_batch_*).
    assert {"spy", "symlink-dir", "symlink-files", "include-other", "memchild", "stderr-flood",
            "ansi"} <= set(CASES)


# ---- the sandbox, seen from a test ----------------------------------------------------------
PROBE = '''
import os, socket, pytest
LAB = "01"

@pytest.mark.points(1)
def test_probe(spawn):
    server, host, port = spawn.server("echo_server", "-b", "127.0.0.1", "-p", "0")
    status = open(f"/proc/{server.pid}/status").read()
    limits = open(f"/proc/{server.pid}/limits").read()
    cwd = os.readlink(f"/proc/{server.pid}/cwd")
    report = {"uid": int(status.split("Uid:")[1].split()[0]),
              "nonewprivs": "NoNewPrivs:\\t1" in status,
              "nproc": [l for l in limits.splitlines() if l.startswith("Max processes")][0].split()[2],
              "cwd_owner": os.stat(cwd).st_uid,
              "interfaces": sorted(name for _, name in socket.if_nameindex()),
              "solutions": os.listdir(SOLUTIONS) if os.path.isdir(SOLUTIONS) else None}
    pytest.fail("PROBE-REPORT " + repr(report), pytrace=False)
'''


@pytest.mark.timeout(120)
def test_sandbox_as_a_program_sees_it(tmp_path):
    """Programs run as an unprivileged user, with limits, in a folder of their own, in a network
    namespace with only loopback, with the solutions out of sight."""
    if MODE == "off":
        pytest.skip(f"the sandbox is off here ({WHY})")
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "test_lab01_probe.py").write_text(PROBE.replace("SOLUTIONS", repr(str(paths.SOLUTIONS))))
    rc, data, seconds, output = grade(LAB.solution, tmp_path / "out", "probe", extra=("--hidden", str(hidden)))
    m = re.search(r"PROBE-REPORT (\{.*\})", data["tests"][0]["output"] if data["tests"] else "")
    assert m, output + json.dumps(data)[:3000]
    report = eval(m.group(1))  # noqa: S307 (what our own probe wrote)
    assert report["uid"] >= sandbox.UID_BASE and report["nonewprivs"], report
    assert report["nproc"] == str(sandbox.DEFAULT_NPROC) and report["cwd_owner"] == report["uid"], report
    if sandbox.at_least(MODE, "namespaces"):
        assert report["interfaces"] == ["lo"], report
        assert report["solutions"] == [], report


@pytest.mark.timeout(120)
def test_sandbox_housekeeping(tmp_path):
    """A run removes its folder and its user ids' lock files; a SIGKILLed grader's folder and
    locks are swept by the next run; the run's folders are private (0750 root:run, 0700 work)."""
    if MODE == "off":
        pytest.skip(f"the sandbox is off here ({WHY})")
    rc, data, seconds, output = grade(LAB.solution, tmp_path / "out", "server_one_message")
    folder = sandbox_folder(output)
    uids = re.search(r"user ids ([\d, ]+)", output).group(1).replace(" ", "").split(",")
    assert data["tests"] and not Path(folder).exists(), output
    assert not [u for u in uids if (sandbox.LOCK_DIR / u).exists()], "lock files left after the run"
    # A grader killed with SIGKILL while its tests run.
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "test_lab01_wait.py").write_text(
        "import os, time, pytest\nLAB = '01'\n\n@pytest.mark.points(1)\ndef test_wait(spawn):\n"
        "    spawn.server('echo_server', '-b', '127.0.0.1', '-p', '0')\n"
        "    root = os.environ['TMPDIR'].rsplit('/run/', 1)[0]\n"
        "    st = os.stat(root)\n"
        "    work = [p for p in os.listdir(root + '/run') if p.startswith('work-')]\n"
        f"    open({str(tmp_path / 'o2' / 'modes.txt')!r}, 'w').write(' '.join(["
        "oct(st.st_mode & 0o777), str(st.st_uid), oct(os.stat(root + '/src').st_mode & 0o777),"
        " oct(os.stat(root + '/run/' + work[0]).st_mode & 0o777)]))\n"
        "    time.sleep(60)\n")
    cmd = [PYTHON, "-m", "harness.grade", "--lab", "01", "--impl", str(LAB.solution), "--out", str(tmp_path / "o2"),
           "--jobs", "1", "-k", "wait", "--hidden", str(hidden)]
    p = subprocess.Popen(cmd, cwd=KIT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    first = b""
    deadline = time.monotonic() + 60
    while b"folder" not in first and time.monotonic() < deadline:
        first += p.stdout.readline()
    killed = sandbox_folder(first.decode())
    killed_uids = re.search(r"user ids ([\d, ]+)", first.decode()).group(1).replace(" ", "").split(",")
    while not (tmp_path / "o2" / "modes.txt").is_file() and time.monotonic() < deadline:
        time.sleep(0.2)
    modes = tuple((tmp_path / "o2" / "modes.txt").read_text().split())
    assert modes == ("0o750", "0", "0o750", "0o700"), modes
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    assert Path(killed).exists() and all((sandbox.LOCK_DIR / u).exists() for u in killed_uids)
    box = sandbox.Sandbox(jobs=1)      # the next run sweeps
    try:
        assert not Path(killed).exists(), f"{killed} was not swept"
        assert not [u for u in killed_uids if (sandbox.LOCK_DIR / u).exists() and int(u) not in box.config.uids]
        assert not leftovers(killed)
    finally:
        box.close()


@pytest.mark.timeout(60)
def test_view_is_the_allow_list(tmp_path):
    """What a program sees in the bwrap view is the allow-list and nothing more: the toolchain,
    a minimal /etc, its own folders, a private /tmp, its own /proc and a minimal /dev."""
    if not sandbox.at_least(MODE, "bwrap"):
        pytest.skip(f"needs the bwrap sandbox ({WHY})")
    from harness.sandbox import view
    box = sandbox.Sandbox(jobs=1)
    try:
        cfg = box.config
        uid = cfg.uids[0]
        work = cfg.workdir(uid)
        cfg.bin_dir.mkdir(exist_ok=True)
        script = ("ls -A /; echo --; ls -A /etc; echo --; find /tmp -mindepth 1 -maxdepth 4 | sort; echo --; "
                  "ls /proc | grep -c '^[0-9]'; echo --; id -u; echo --; "
                  f"for d in /home /root /work /srv /var {paths.KIT}; do test -e $d && echo $d; done; echo")
        as_user = dict(user=uid, group=cfg.gid, extra_groups=[]) if cfg.userns else {}
        r = subprocess.run(view.view_command(uid, cfg.gid, ro=[cfg.bin_dir], rw=[work], cwd=work, own_etc=cfg.etc,
                                             userns=cfg.userns) + ["/bin/sh", "-c", script],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30, **as_user)
        top, etc, tmp, procs, who, other = r.stdout.decode().split("--\n")
        allowed_top = {"usr", "etc", "proc", "dev", "tmp", *view.TOP_DIRS}
        assert set(top.split()) <= allowed_top, top
        assert set(etc.split()) <= {*view.ETC_FILES, "passwd", "group"}, etc
        root = Path(cfg.root)
        assert set(tmp.split()) == {str(root), str(cfg.run), str(cfg.bin_dir), str(work)}, tmp
        assert int(procs) <= 5 and int(who) == uid, (procs, who)   # init, sh, ls, grep
        assert not other.split(), f"visible in the view: {other}"
    finally:
        box.close()


# ---- batch grading ------------------------------------------------------------------------
def _zip_with_traps(src: Path, dest: Path) -> None:
    """A zip of `src` under a folder, plus a member that climbs out and a symlink."""
    with zipfile.ZipFile(dest, "w") as zf:
        for p in sorted(src.iterdir()):
            zf.write(p, f"my-lab-1/{p.name}")
        zf.writestr("../../escaped-from-zip.txt", "should never be written")
        link = zipfile.ZipInfo("my-lab-1/link.c")
        link.external_attr = (0o120777 << 16)
        zf.writestr(link, "/etc/shadow")


@pytest.mark.timeout(300)
def test_batch_grades_each_submission_alone(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    submission(subs / "alice")                                           # full marks
    _zip_with_traps(submission(tmp_path / "b"), subs / "bob.zip")        # an archive, with traps
    with tarfile.open(subs / "carol.tar.gz", "w:gz") as tf:              # a tarball, nested folders
        tf.add(submission(tmp_path / "c"), arcname="carol/labs/01-tcp-echo")
    (submission(subs / "dave") / "netio.c").open("a").write("int broken = ;\n")   # does not compile
    submission(subs / "erin", "sleeper")                                  # the server hangs
    crash = submission(subs / "frank")                                    # the server crashes
    crash.joinpath("echo_server.c").open("a").write(
        "\n#include <signal.h>\n__attribute__((constructor)) static void boom(void) { raise(SIGSEGV); }\n")
    submission(subs / "gina", "flood")                                    # 1 GiB on stdout
    if MODE != "off":
        submission(subs / "hank", "forkbomb")                             # a fork bomb
    (subs / "README.txt").write_text("not a submission")
    out = tmp_path / "batch"
    cmd = [PYTHON, "-m", "harness.batch", "--lab", LAB.id, "--submissions", str(subs), "--out", str(out),
           "-j", "3", "-k", QUICK, "--timeout", "90"]
    t0 = time.monotonic()
    r = subprocess.run(cmd, cwd=KIT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=400)
    first = time.monotonic() - t0
    log = r.stdout.decode("utf-8", "replace")
    assert r.returncode == 0, log
    rows = {row["student"]: row for row in csv.DictReader(open(out / "grades.csv"))}
    expect = {"alice": (FULL, "graded"), "bob": (FULL, "graded"), "carol": (FULL, "graded"),
              "dave": (0, "build failed"), "erin": (HALF, "graded"), "frank": (HALF, "graded"),
              "gina": (HALF, "graded")}
    if MODE != "off":
        expect["hank"] = (HALF, "graded")
    got = {k: (float(v["total"]), v["status"]) for k, v in rows.items()}
    assert got == expect, f"{got}\n{log}"
    assert set(rows["alice"]) >= {"student", "test_server_one_message", "test_client_one_message",
                                  "total", "max", "seconds", "status"}
    assert not (tmp_path / "escaped-from-zip.txt").exists() and not (out / "escaped-from-zip.txt").exists()
    for name in expect:
        text = (out / "feedback" / f"{name}.txt").read_text()
        assert text.startswith(f"Lab 01 (tcp echo): {expect[name][0]:g}/{FULL:g} points"), text
    assert "did not build" in (out / "feedback" / "dave.txt").read_text()
    summary = (out / "summary.txt").read_text()
    for word in ("mean", "median", "distribution", "tests failed most"):
        assert word in summary, summary
    assert json.loads((out / "summary.json").read_text())["submissions"] == len(expect)
    assert re.search(r"\[\s*\d+/%d\] .*\d+\.\d/min, \d+m\d\ds left" % len(expect), log), log
    assert "README.txt: neither a folder nor an archive" in log

    # Resumed: nothing is graded twice...
    def totals() -> dict:
        return {row["student"]: (float(row["total"]), row["status"]) for row in csv.DictReader(open(out / "grades.csv"))}

    t0 = time.monotonic()
    r = subprocess.run(cmd, cwd=KIT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    log2 = r.stdout.decode("utf-8", "replace")
    assert log2.count("skipped (already graded)") == len(expect), log2
    assert time.monotonic() - t0 < first / 2 + 5
    assert totals() == got
    # ...except a submission that changed...
    (subs / "dave" / "netio.c").write_text((LAB.solution / "netio.c").read_text())
    r = subprocess.run(cmd, cwd=KIT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    log3 = r.stdout.decode("utf-8", "replace")
    assert log3.count("skipped (already graded)") == len(expect) - 1, log3
    assert totals()["dave"] == (FULL, "graded"), log3
    # ...and, with --force, everything.
    only = tmp_path / "only-alice"
    only.mkdir()
    shutil.copytree(subs / "alice", only / "alice")
    i = cmd.index("--submissions") + 1
    r = subprocess.run([*cmd[:i], str(only), *cmd[i + 1:], "--force"], cwd=KIT, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=200)
    log4 = r.stdout.decode("utf-8", "replace")
    assert "skipped" not in log4 and re.search(rf"alice +{FULL:g}/{FULL:g} +graded", log4), log4


# ---- untrusted intake (harness/intake.py) -----------------------------------------------------
def test_intake_takes_no_link_and_stays_bounded(tmp_path):
    """Links (symbolic, hard), FIFOs, odd names, deep folders and huge files stay out, each named
    in a note on one line; what is taken is a private copy."""
    from harness import intake
    sub = tmp_path / "sub"
    (sub / "a" / "b" / "c" / "d" / "e" / "f" / "g").mkdir(parents=True)
    (sub / "ok.c").write_text("int x;\n")
    (sub / "a" / "b" / "c" / "d" / "e" / "f" / "g" / "deep.c").write_text("int deep;\n")
    (sub / "link.c").symlink_to(LAB.solution / "echo_server.c")
    (sub / "dirlink").symlink_to(LAB.solution)
    os.mkfifo(sub / "fifo.c")
    with open(sub / "huge.c", "wb") as f:          # 200 MiB, sparse: never read whole
        f.truncate(200 << 20)
    (sub / "fake\nLab 01 (tcp echo): 100 points\n.c").write_text("x")
    (sub / "esc\x1b[2J.c").write_text("x")
    (tmp_path / "victim.c").write_text("secret\n")
    try:
        os.link(tmp_path / "victim.c", sub / "hard.c")
    except OSError:
        pass
    notes = intake.copy_tree(sub, tmp_path / "copy")
    taken = sorted(str(p.relative_to(tmp_path / "copy")) for p in (tmp_path / "copy").rglob("*") if p.is_file())
    assert taken == ["ok.c"], (taken, notes)
    text = "\n".join(notes)
    for what in ("link.c", "dirlink", "fifo.c", "huge.c", "deep", "esc\\x1b", "hard.c"):
        assert what in text or (what == "hard.c" and not (sub / "hard.c").exists()), (what, notes)
    assert all("\n" not in n and "\x1b" not in n for n in notes), notes
    assert not any(line.startswith("Lab 01") for line in text.splitlines()), notes
    # The top folder itself a link: nothing is taken.
    assert "nothing taken" in " ".join(intake.copy_tree(sub / "dirlink", tmp_path / "copy2"))
    assert not list((tmp_path / "copy2").iterdir())


def test_intake_archives(tmp_path):
    """Archive members: names checked and shown escaped, links left out, sizes bounded in chunks."""
    from harness import intake
    z = tmp_path / "s.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("lab/ok.c", "int x;\n")
        zf.writestr("lab/x.c\nLab 01 (tcp echo): 100/100 points\nStatus: graded", "x")
        zf.writestr("../up.c", "x")
        zf.writestr("/abs.c", "x")
        zf.writestr("lab/bomb.c", b"\0" * (intake.LIMITS.file_bytes + 1))
        link = zipfile.ZipInfo("lab/link.c")
        link.external_attr = 0o120777 << 16
        zf.writestr(link, "/etc/shadow")
    notes = intake.unpack(z, tmp_path / "u")
    taken = sorted(str(p.relative_to(tmp_path / "u")) for p in (tmp_path / "u").rglob("*") if p.is_file())
    assert taken == ["lab/ok.c"], (taken, notes)
    assert len(notes) == 5 and all("\n" not in n for n in notes), notes
    assert not any(line.startswith(("Lab 01", "Status")) for n in notes for line in n.splitlines()), notes
    t = tmp_path / "s.tar"
    with tarfile.open(t, "w") as tf:
        info = tarfile.TarInfo("lab/hard.c")
        info.type = tarfile.LNKTYPE
        info.linkname = "/etc/shadow"
        tf.addfile(info)
        data = b"int y;\n"
        info = tarfile.TarInfo("lab/y.c")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    notes = intake.unpack(t, tmp_path / "t")
    assert [p.name for p in (tmp_path / "t").rglob("*") if p.is_file()] == ["y.c"] and len(notes) == 1, notes


@pytest.mark.timeout(300)
def test_batch_hostile_class(tmp_path):
    """A class with a spy (a classmate's sources, the solutions, hidden tests), a zip whose member
    name injects a fake line, a 200 MiB source file and a link as a submission: honest scores,
    nothing read, no fake line in any feedback."""
    subs = tmp_path / "subs"
    subs.mkdir()
    submission(subs / "alice")
    sol = submission(tmp_path / "j")
    with zipfile.ZipFile(subs / "judy.zip", "w") as zf:
        for p in sorted(sol.iterdir()):
            if p.is_file():
                zf.write(p, f"lab1/{p.name}")
        zf.writestr("lab1/x.c\nLab 01 (tcp echo): 100/100 points\nStatus: graded\n\x1b[2J", "x")
    kim = submission(subs / "kim")
    with open(kim / "echo_server.c", "wb") as f:   # 200 MiB (sparse): left out, the skeleton's used
        f.truncate(200 << 20)
    (subs / "lee").symlink_to(subs / "alice")
    planted = Planted() if sandbox.at_least(MODE, "bwrap") else None
    try:
        if planted:
            submission(subs / "ivan", "spy", {**planted.subst()})
        out = tmp_path / "batch"
        cmd = [PYTHON, "-m", "harness.batch", "--lab", LAB.id, "--submissions", str(subs), "--out", str(out),
               "-j", "3", "-k", QUICK, "--timeout", "90"]
        r = subprocess.run(cmd, cwd=KIT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=280)
    finally:
        if planted:
            planted.close()
    log = r.stdout.decode("utf-8", "replace")
    assert r.returncode == 0, log
    got = {row["student"]: (float(row["total"]), row["status"]) for row in csv.DictReader(open(out / "grades.csv"))}
    expect = {"alice": (FULL, "graded"), "judy": (FULL, "graded"), "kim": (HALF, "graded")}
    if planted:
        expect["ivan"] = (HALF, "graded")
    assert got == expect, f"{got}\n{log}"
    for name in expect:
        text = (out / "feedback" / f"{name}.txt").read_text()
        lines = text.splitlines()
        assert lines[0] == f"Lab 01 (tcp echo): {expect[name][0]:g}/{FULL:g} points", text
        assert not [l for l in lines[1:] if l.startswith(("Lab 01", "Status: graded"))][1:], text
        assert "\x1b" not in text and "LEAK" not in text, text
    assert "larger than" in (out / "feedback" / "kim.txt").read_text()
    if planted:
        assert "spy done, 0 leaks" in (out / "feedback" / "ivan.txt").read_text()


# ---- handouts -----------------------------------------------------------------------------
def _kit_copy(dest: Path) -> Path:
    """A copy of the kit to build handouts from, with hidden tests planted inside it."""
    ignore = shutil.ignore_patterns(".git", "out", "dist", "build", "__pycache__", "html", "html-instructor")
    shutil.copytree(KIT, dest, ignore=ignore, symlinks=True)
    for where in ("hidden", "harness/tests/hidden"):
        (dest / where).mkdir(parents=True, exist_ok=True)
        (dest / where / "test_lab01_secret.py").write_text(
            "# SECRET-HIDDEN-TEST-MARKER\nLAB = '01'\n")
    return dest


@pytest.fixture(scope="module")
def handouts(tmp_path_factory):
    base = tmp_path_factory.mktemp("handouts")
    kit = _kit_copy(base / "kit")
    dist = base / "dist"
    r = subprocess.run([PYTHON, "-m", "harness.handout", "--out", str(dist), "--no-workflows"], cwd=kit,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    assert r.returncode == 0, r.stdout.decode()
    return kit, dist


def _lines(p: Path) -> list[str]:
    try:
        return [l.strip() for l in p.read_text(errors="replace").splitlines()]
    except (OSError, UnicodeError):
        return []


def _only_solution_lines(kit: Path) -> set[str]:
    """Lines (16 characters and more, not an #include) that only a solution holds: not in the
    skeleton's file of the same name, nor in the kit's docs, harness or handouts' prose."""
    sol, given = set(), set()
    for p in (kit / "solutions").rglob("*"):
        if p.is_file() and "mutants" not in p.parts:
            sol |= {l for l in _lines(p) if len(l) >= 16 and not l.startswith("#include")}
            given |= set(_lines(kit / "labs" / p.relative_to(kit / "solutions")))
    sol -= given
    for top in ("harness", "docs", "labs", "Makefile", "README.md"):
        root = kit / top
        for p in ([root] if root.is_file() else root.rglob("*") if root.is_dir() else []):
            if p.is_file() and "selftest" not in p.parts and not (top == "labs" and p.suffix in (".c", ".h")):
                sol -= set(_lines(p))
    return sol


def _skeleton_twins(kit: Path) -> set[bytes]:
    """Contents of solution files that the skeleton has unchanged (shared headers)."""
    return {p.read_bytes() for p in (kit / "solutions").rglob("*") if p.is_file()
            and (kit / "labs" / p.relative_to(kit / "solutions")).is_file()
            and (kit / "labs" / p.relative_to(kit / "solutions")).read_bytes() == p.read_bytes()}


def _handout_names() -> list[str]:
    return ["socklab-handout"] + [f"socklab-lab{l.id}-handout" for l in paths.all_labs()]


@pytest.mark.timeout(400)
@pytest.mark.parametrize("name", _handout_names())
def test_handout_builds_grades_zero_and_leaks_nothing(name, handouts, tmp_path):
    kit, dist = handouts
    tarball = dist / f"{name}.tar.gz"
    assert tarball.is_file(), sorted(p.name for p in dist.iterdir())
    only_solution = _only_solution_lines(kit)
    solution_files = {p.read_bytes() for p in (kit / "solutions").rglob("*") if p.is_file()} - _skeleton_twins(kit)
    with tarfile.open(tarball) as tf:
        members = [m for m in tf if m.isfile()]
        for m in members:
            rel = m.name.split("/", 1)[1]
            data = tf.extractfile(m).read()
            assert not rel.startswith("solutions/") and "/mutants/" not in rel and not rel.endswith(".patch"), rel
            assert b"SECRET-HIDDEN-TEST-MARKER" not in data and "/hidden/" not in f"/{rel}", rel
            assert data not in solution_files, f"{rel} is a copy of a solution file"
            leaked = {l.strip() for l in data.decode("utf-8", "replace").splitlines()} & only_solution
            assert not leaked, f"{rel} holds lines only a solution has: {sorted(leaked)[:3]}"
        assert not any(m.name.split("/", 1)[1].startswith("harness/selftest") for m in members)
        tf.extractall(tmp_path)
    root = tmp_path / name.replace("-handout", "")
    labs = sorted(p.name for p in (root / "labs").glob("[0-9][0-9]-*"))
    assert labs, f"no lab in {name}"
    if name != "socklab-handout":
        assert labs == [next(l.name for l in paths.all_labs() if f"lab{l.id}" in name)]
    build = subprocess.run(["make", "all"], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    t0 = time.monotonic()
    r = subprocess.run(["make", "test", "JOBS=2"], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=100 * len(labs) + 60)
    seconds = time.monotonic() - t0
    log = r.stdout.decode("utf-8", "replace")
    assert r.returncode != 0, f"the skeletons of {name} should not pass:\n{log}"
    for lab in labs:
        data = json.loads((root / "out" / f"grade-{lab[:2]}-labs" / "results.json").read_text())
        assert data["tests"] and sum(t["score"] for t in data["tests"]) == 0, f"{lab}: not 0\n{log}"
        assert not [t for t in data["tests"] if t["extra_data"]["outcome"] == "not run"], f"{lab} hung:\n{log}"
    assert seconds < 90 * len(labs), f"make test took {seconds:.0f} s"
    assert build.returncode == 0, f"`make all` fails in {name}:\n{build.stdout.decode(errors='replace')[-3000:]}"


def test_handout_refuses_to_leak(tmp_path):
    """A solution file that found its way into the labs is caught before the tarball is written."""
    kit = _kit_copy(tmp_path / "kit")
    shutil.copy2(kit / "solutions" / LAB.name / "echo_server.c", kit / "labs" / "common" / "oops.c")
    check = handout.LeakCheck(kit, [])
    problems = check.problems("labs/common/oops.c", (kit / "labs/common/oops.c").read_bytes())
    assert problems and any("solution" in p for p in problems), problems


def test_classroom_workflows_are_current():
    """One GitHub Classroom workflow per lab, with every test and its points (make handout regenerates them)."""
    for lab in paths.all_labs():
        path = handout.workflow_path(KIT, lab)
        assert path.is_file(), f"{path.relative_to(KIT)} is missing: run `make handout`"
        plan = handout.test_plan(lab)
        if plan is None:
            continue  # the lab's tests do not collect right now; test_kit reports that
        assert path.read_text() == handout.workflow_text(lab, plan), (
            f"{path.relative_to(KIT)} is out of date with the lab's tests: run `make handout`")


# ---- Gradescope ---------------------------------------------------------------------------
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}
FORMATS = {"text", "html", "simple_format", "md", "ansi"}
TOP_KEYS = {"score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
            "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}
TEST_KEYS = {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format",
             "tags", "visibility", "extra_data"}


def gradescope_problems(data: dict) -> list[str]:
    """How `data` departs from Gradescope's results.json specification
    (https://gradescope-autograders.readthedocs.io/en/latest/specs/)."""
    p = []
    if not isinstance(data, dict):
        return ["not a JSON object"]
    p += [f"unknown top-level key {k!r}" for k in set(data) - TOP_KEYS]
    tests = data.get("tests")
    if "score" not in data and not (isinstance(tests, list) and tests and all("score" in t for t in tests)):
        p.append("no top-level score and not every test has one")
    for k in ("score", "execution_time"):
        if k in data and not isinstance(data[k], (int, float)):
            p.append(f"{k} is not a number")
    for k in ("visibility", "stdout_visibility"):
        if k in data and data[k] not in VISIBILITIES:
            p.append(f"{k} {data[k]!r}")
    for k in ("output_format", "test_output_format", "test_name_format"):
        if k in data and data[k] not in FORMATS:
            p.append(f"{k} {data[k]!r}")
    if "output" in data and not isinstance(data["output"], str):
        p.append("output is not text")
    if tests is not None and not isinstance(tests, list):
        p.append("tests is not a list")
    for i, t in enumerate(tests or []):
        where = f"tests[{i}]"
        p += [f"{where}: unknown key {k!r}" for k in set(t) - TEST_KEYS]
        for k in ("score", "max_score"):
            if k in t and not isinstance(t[k], (int, float)):
                p.append(f"{where}.{k} is not a number")
        if "status" in t and t["status"] not in ("passed", "failed"):
            p.append(f"{where}.status {t['status']!r}")
        if "visibility" in t and t["visibility"] not in VISIBILITIES:
            p.append(f"{where}.visibility {t['visibility']!r}")
        for k in ("name", "number", "output"):
            if k in t and not isinstance(t[k], str):
                p.append(f"{where}.{k} is not text")
        if "tags" in t and not (isinstance(t["tags"], list) and all(isinstance(x, str) for x in t["tags"])):
            p.append(f"{where}.tags is not a list of text")
        if "extra_data" in t and not isinstance(t["extra_data"], dict):
            p.append(f"{where}.extra_data is not an object")
        if isinstance(t.get("score"), (int, float)) and isinstance(t.get("max_score"), (int, float)) \
                and not 0 <= t["score"] <= t["max_score"]:
            p.append(f"{where}: score {t['score']} outside 0..{t['max_score']}")
    return p


HIDDEN_TESTS = '''
import pytest
from harness.peers import exchange
LAB = "01"


@pytest.mark.points(2)
@pytest.mark.visibility("hidden")
def test_two_messages_in_a_row(spawn):
    """hidden: two clients in a row"""
    server, host, port = spawn.server("echo_server", "-b", "127.0.0.1", "-p", "0")
    for payload in (b"one\\n", b"two\\n"):
        assert exchange(host, port, payload, timeout=4)[0] == payload


@pytest.mark.points(3)
@pytest.mark.visibility("after_due_date")
def test_long_line(spawn):
    """after the due date: one 64 KiB line"""
    server, host, port = spawn.server("echo_server", "-b", "127.0.0.1", "-p", "0")
    payload = b"x" * 65535 + b"\\n"
    assert exchange(host, port, payload, timeout=4)[0] == payload
'''


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory):
    base = tmp_path_factory.mktemp("autograder")
    hidden = base / "hidden"
    hidden.mkdir()
    (hidden / "test_lab01_hidden.py").write_text(HIDDEN_TESTS)
    zpath = base / "autograder-lab01.zip"
    r = subprocess.run([PYTHON, "-m", "harness.autograder.build", "--lab", "01", "--hidden", str(hidden),
                        "--out", str(zpath)], cwd=KIT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    assert r.returncode == 0, r.stdout.decode()
    return zpath


@pytest.mark.timeout(200)
@pytest.mark.parametrize("kind", ["good", "broken", "malicious", "out-of-time"])
def test_gradescope_autograder(kind, autograder_zip, tmp_path):
    if kind == "malicious" and MODE == "off":
        # As the grader's own user, a program can rewrite any results file it finds.
        pytest.skip(f"a malicious submission needs the grader's root sandbox ({WHY})")
    with zipfile.ZipFile(autograder_zip) as zf:
        names = zf.namelist()
        assert {"setup.sh", "run_autograder"} <= set(names)
        assert not [n for n in names if "/solutions/" in n or n.endswith(".patch")]
        assert "socklab/hidden/test_lab01_hidden.py" in names
        zf.extractall(tmp_path / "source")
    ag = tmp_path
    for n in ("setup.sh", "run_autograder"):
        os.chmod(ag / "source" / n, 0o755)
    for p in (ag / "source" / "socklab").rglob("*"):
        if p.parent.name == "bin":
            os.chmod(p, 0o755)
    shutil.copy2(ag / "source" / "run_autograder", ag / "run_autograder")
    sub = ag / "submission"
    base = {"good": None, "broken": None, "malicious": "tamper", "out-of-time": None}[kind]
    if kind == "out-of-time":
        src = submission(tmp_path / "slow")
        subprocess.run(["patch", "-s", "-p1", "-d", str(src), "-i",
                        str(LAB.solution / "mutants" / "no-eof.patch")], check=True)
        shutil.copytree(src, sub)
    else:
        submission(sub, base)
    if kind == "broken":
        (sub / "echo_client.c").write_text("this is not C\n")
    for extra in sub.glob("*"):
        if extra.suffix not in (".c", ".h"):
            shutil.rmtree(extra) if extra.is_dir() else extra.unlink()
    env = dict(os.environ, SOCKLAB_AUTOGRADER_ROOT=str(ag))
    if kind == "out-of-time":
        env["SOCKLAB_TIMEOUT"] = "12"
    t0 = time.monotonic()
    r = subprocess.run([str(ag / "run_autograder")], cwd=ag, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=240)
    seconds = time.monotonic() - t0
    log = r.stdout.decode("utf-8", "replace")
    data = json.loads((ag / "results" / "results.json").read_text())
    assert not gradescope_problems(data), f"{gradescope_problems(data)}\n{log}"
    assert_no_traceback(log, data)
    assert "/autograder/" not in json.dumps([t.get("output", "") for t in data["tests"]]), log
    tests = {result_id(t): t for t in data["tests"]}
    assert len(tests) >= 20, log
    score, top = data["score"], sum(t["max_score"] for t in data["tests"])
    assert score == sum(t["score"] for t in data["tests"])
    vis = {result_id(t).split("::")[-1]: t["visibility"] for t in data["tests"] if "::" in result_id(t)}
    assert vis == {"test_two_messages_in_a_row": "hidden", "test_long_line": "after_due_date"}, vis
    if kind == "good":
        assert score == top == 105, log
    elif kind == "broken":
        # Only echo_client is broken: the server's tests still count (each program builds on its
        # own), the client's fail with one "build" entry holding the compiler's messages.
        assert "echo_client did not build" in tests["build"]["output"], log
        assert all(t["score"] == 0 for n, t in tests.items() if n.startswith(("test_client", "test_end_to_end"))), log
        assert tests["test_server_one_message"]["score"] == tests["test_server_one_message"]["max_score"], log
        assert "not C" not in tests["test_client_one_message"]["output"], "the compiler's message is repeated"
    elif kind == "malicious":
        # It scores what it earned: everything but the exact ready line, which its fake
        # "PASSED 100/100" line on stdout breaks (R3.1-1); nothing it wrote reached the results.
        lost = {n for n, t in tests.items() if t["score"] < t["max_score"]}
        assert lost == {"test_server_ready_line"}, f"{sorted(lost)}\n{log}"
        assert "HACKED" not in json.dumps(data), log
    else:
        assert seconds < 12 + 60, f"the autograder took {seconds:.0f} s"
        assert "stopped" in data["output"] and any(
            t["extra_data"]["outcome"] == "not run" for t in data["tests"]), data["output"]
        assert score < top
    assert "echo_server.c" not in data["output"] or kind == "broken"


# ---- a class for the benchmark -----------------------------------------------------------------
def make_class(dest: Path, n: int) -> dict:
    """N distinct Lab 01 submissions: 30% solutions, 30% skeletons, 40% mutants (in turn)."""
    mutants = sorted((LAB.solution / "mutants").glob("*.patch"))
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    kinds: dict[str, int] = {}
    for i in range(n):
        r = i % 10
        kind = "solution" if r < 3 else "skeleton" if r < 6 else mutants[(i // 10 * 4 + r - 6) % len(mutants)]
        d = dest / f"student{i:03d}"
        shutil.copytree(LAB.skeleton if kind == "skeleton" else LAB.solution, d,
                        ignore=shutil.ignore_patterns("mutants", "README.md", "Makefile", "build"))
        if not isinstance(kind, str):
            subprocess.run(["patch", "-s", "-p1", "-d", str(d), "-i", str(kind)], check=True)
            kind = kind.stem
        with open(d / "echo_server.c", "a") as f:   # every submission differs, as in a real class
            f.write(f"/* {d.name} */\n")
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "make-class":
        print(make_class(Path(sys.argv[2]), int(sys.argv[3])))
    else:
        print(__doc__)


ALL_LABS = [lab for lab in paths.all_labs() if lab.test_module.is_file()]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("lab", ALL_LABS, ids=[lab.id for lab in ALL_LABS])
def test_autograder_zip_for_every_lab(lab, tmp_path):
    """Every lab has a Gradescope zip (test_gradescope_autograder runs Lab 01's end to end):
    the lab's handout folder, tests and support module are in it; solutions and patches never."""
    zpath = tmp_path / f"autograder-lab{lab.id}.zip"
    r = subprocess.run([PYTHON, "-m", "harness.autograder.build", "--lab", lab.id, "--out", str(zpath)],
                       cwd=KIT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=100)
    assert r.returncode == 0, r.stdout.decode()
    with zipfile.ZipFile(zpath) as zf:
        names = set(zf.namelist())
    want = {"setup.sh", "run_autograder", f"socklab/harness/tests/test_lab{lab.id}.py",
            f"socklab/harness/labs/lab{lab.id}.py", f"socklab/labs/{lab.name}/Makefile",
            f"socklab/labs/{lab.name}/README.md"}
    assert want <= names, sorted(want - names)
    assert not [n for n in names if "/solutions/" in n or n.endswith(".patch")]


def test_cgroup_sweep_keeps_other_folders_runs(tmp_path, monkeypatch):
    """Cgroups are machine-wide: a grader sweeps the cgroups of dead runs in its own
    SOCKLAB_SANDBOX_TMP only, never a live run of a grader with another folder (whose program
    cgroups, made empty a moment before the program joins them, would vanish under it)."""
    from harness.sandbox import limits
    root = tmp_path / "cgroup"
    monkeypatch.setattr(limits, "CGROUP_ROOT", root)
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    for d in (mine, theirs, mine / "socklab-sbx-live"):
        d.mkdir()
    (theirs / "socklab-sbx-other").mkdir()
    names = {"dead": limits.run_cgroup_name(mine / "socklab-sbx-dead"),
             "live": limits.run_cgroup_name(mine / "socklab-sbx-live"),
             "other": limits.run_cgroup_name(theirs / "socklab-sbx-other")}
    for n in names.values():
        (root / "memory" / (limits.CGROUP_PREFIX + n) / "p1-0").mkdir(parents=True)
    limits.sweep_cgroups(mine)
    left = {d.name for d in (root / "memory").iterdir()}
    assert left == {limits.CGROUP_PREFIX + names["live"], limits.CGROUP_PREFIX + names["other"]}
