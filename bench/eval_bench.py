#!/usr/bin/env python3
"""GenAI evaluation, Rust `genai::evaluate` vs `mlflow.genai.evaluate`, side by side in one run.

The same evaluation runs twice against one ferroflow server this script starts on a temporary
store: ROWS rows (default 1,000), a trivial predict function, and three LLM judges (safety,
relevance to the query, guidelines) calling one fake OpenAI-compatible endpoint
(`tests/compat/fake_openai.py`, a real HTTP server in this process) that holds every answer
back DELAY seconds (default 0.05). Both sides run at the same concurrency limit: WORKERS rows at
a time (`MLFLOW_GENAI_EVAL_MAX_WORKERS` in Python, `EvaluateOptions::max_workers` in Rust), each
row's three judges at once (Python's scorer workers; the Rust judge client allows WORKERS x 3
calls in flight), and Python's rate limiters off so that only the concurrency limit binds.

Each side is a child process of its own: wall time is the child's whole life (start-up,
evaluation, delivery of every trace and assessment), peak memory its maximum RSS (from
`wait4`). The Rust side is the SDK's example `eval_bench` (`--rust-bin`, default the debug
build `cargo xtask test` makes); the Python side is this script with `--python-child`.

    .venv/bin/python bench/eval_bench.py                     # 1,000 rows, 50 ms judge
    .venv/bin/python bench/eval_bench.py --rows 100 --delay 0.01

Not a test and not run by CI; the figures of a run are in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ferrobench.servers import QUIET_ENV, ROOT, ServerProc, ferroflow_spec, free_port, rm_tree

sys.path.insert(0, str(ROOT / "tests" / "compat"))
from fake_openai import FakeOpenAI  # noqa: E402

TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
MODEL = "openai:/gpt-4o-mini"


def verdict(text: str, body: dict) -> tuple[str, str]:
    return "yes", "the fake judge agrees"


class FastJudge:
    """`ferrobench.fast_judge` in a child process, with the parts of `FakeOpenAI` the bench uses."""

    api_key = "sk-ferroflow-bench"

    def __init__(self, delay: float):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ferrobench.fast_judge", "--port", str(self.port), "--delay", str(delay),
             "--api-key", self.api_key],
            cwd=Path(__file__).resolve().parent,
        )
        deadline = time.time() + 30
        while True:
            try:
                self.chat_requests()
                return
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("the fast judge did not start")
                time.sleep(0.1)

    def chat_requests(self) -> range:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/calls", timeout=10) as response:
            return range(json.load(response)["calls"])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def child_env(url: str, experiment: str, fake: FakeOpenAI, workers: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "OTEL_", "OPENAI_"))}
    env.update(QUIET_ENV)
    env.update(
        MLFLOW_TRACKING_URI=url,
        MLFLOW_EXPERIMENT_NAME=experiment,
        OPENAI_API_KEY=fake.api_key,
        OPENAI_API_BASE=fake.base_url,
        OPENAI_BASE_URL=fake.base_url,
        MLFLOW_GENAI_EVAL_MAX_WORKERS=str(workers),
        MLFLOW_GENAI_EVAL_MAX_SCORER_WORKERS="3",
        MLFLOW_GENAI_EVAL_PREDICT_RATE_LIMIT="0",
        MLFLOW_GENAI_EVAL_SCORER_RATE_LIMIT="0",
        MLFLOW_GENAI_EVAL_SKIP_TRACE_VALIDATION="true",
        MLFLOW_MODEL_CATALOG_URI="",
    )
    return env


def run_child(cmd: list[str], env: dict) -> dict:
    """Runs one side; its JSON line, wall seconds and peak RSS (MiB)."""
    # Output to files, not pipes: nobody reads a pipe while we wait, and a child whose
    # progress bar fills one would block forever.
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=stdout, stderr=stderr, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        stdout.seek(0)
        stderr.seek(0)
        out, err = stdout.read(), stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{cmd[0]} failed:\n{err[-3000:]}")
    line = json.loads([line for line in out.splitlines() if line.startswith("{")][-1])
    return {**line, "wall_s": wall, "peak_rss_mib": usage.ru_maxrss / 1024, "cpu_s": usage.ru_utime + usage.ru_stime}


def python_child(rows: int) -> None:
    import mlflow
    from mlflow.genai.scorers import Guidelines, RelevanceToQuery, Safety

    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    mlflow.set_experiment(os.environ["MLFLOW_EXPERIMENT_NAME"])
    data = [
        {
            "inputs": {"question": f"Question {i}: what is MLflow?"},
            "expectations": {"expected_response": "MLflow is an ML platform"},
        }
        for i in range(rows)
    ]

    def predict(question: str) -> str:
        return f"MLflow is an ML platform. ({question!r})"

    scorers = [
        Safety(model=MODEL),
        RelevanceToQuery(model=MODEL),
        Guidelines(guidelines=["The response must be in English."], model=MODEL),
    ]
    start = time.perf_counter()
    result = mlflow.genai.evaluate(data=data, predict_fn=predict, scorers=scorers)
    mlflow.flush_trace_async_logging()
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "rows": rows, "metrics": result.metrics}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--delay", type=float, default=0.05, help="seconds the fake judge takes per call")
    parser.add_argument("--workers", type=int, default=10, help="rows evaluated at once, both sides")
    parser.add_argument("--ferroflow-bin", type=Path, default=TARGET / "debug" / "ferroflow")
    parser.add_argument("--rust-bin", type=Path, default=TARGET / "debug" / "examples" / "eval_bench")
    parser.add_argument("--python-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--slow-judge", action="store_true",
                        help="use the test suite's fake judge in this process (~600 calls/s at most) instead of "
                             "ferrobench.fast_judge in a process of its own")
    args = parser.parse_args()
    if args.python_child:
        python_child(args.rows)
        return

    fake = FakeOpenAI(responder=verdict, delay=args.delay).start() if args.slow_judge else FastJudge(args.delay)
    tmp = Path(tempfile.mkdtemp(prefix="ferroflow-evalbench-"))
    port = free_port()
    server = ServerProc("ferroflow", ferroflow_spec(args.ferroflow_bin).make_cmd(port, tmp), tmp / "server.log", tmp)
    try:
        server.start(port, timeout_s=60)
        url = f"http://127.0.0.1:{port}"
        results = {}
        for side, cmd in (
            ("rust", [str(args.rust_bin), str(args.rows), str(args.workers), str(args.workers * 3)]),
            ("python", [sys.executable, __file__, "--python-child", "--rows", str(args.rows)]),
        ):
            before = len(fake.chat_requests())
            env = child_env(url, f"evalbench-{side}-{int(time.time())}", fake, args.workers)
            results[side] = run_child(cmd, env)
            results[side]["judge_calls"] = len(fake.chat_requests()) - before
            print(f"{side}: {json.dumps(results[side])}", flush=True)
    finally:
        server.stop()
        fake.stop()
        rm_tree(tmp)

    rust, python = results["rust"], results["python"]
    print()
    print(f"{args.rows} rows x 3 LLM judges, judge {args.delay * 1000:.0f} ms/call, {args.workers} rows at a time")
    print(f"{'':28}{'Rust':>12}{'Python':>12}{'ratio':>10}")
    for label, key in (("wall time, whole process (s)", "wall_s"), ("evaluate() alone (s)", "seconds")):
        print(f"{label:28}{rust[key]:12.2f}{python[key]:12.2f}{python[key] / rust[key]:9.1f}x")
    print(
        f"{'peak RSS (MiB)':28}{rust['peak_rss_mib']:12.1f}{python['peak_rss_mib']:12.1f}"
        f"{python['peak_rss_mib'] / rust['peak_rss_mib']:9.1f}x"
    )
    print(f"{'client CPU, user + sys (s)':28}{rust['cpu_s']:12.2f}{python['cpu_s']:12.2f}{python['cpu_s'] / rust['cpu_s']:9.1f}x")
    print(f"{'judge calls':28}{rust['judge_calls']:12d}{python['judge_calls']:12d}")
    means = {k: (rust["metrics"].get(k), python["metrics"].get(k)) for k in sorted(python["metrics"])}
    print(f"metrics (Rust, Python): {means}")


if __name__ == "__main__":
    main()
