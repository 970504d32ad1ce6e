"""The benchmark suite: `python -m bench` (see README). Every figure is a ratio or difference against a floor
measured in the same run, on the same machine; the latest results go to bench/RESULTS.md.

    python -m bench [--sizes 20,200] [--results bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import data, package

ROOT = Path(__file__).resolve().parents[1]
INPUT_DIRECTIONS = {
    "openai-to-anthropic": "gpt-4o-mini",
    "openai-to-bedrock": "anthropic.claude-3-haiku-20240307-v1:0",
    "openai-to-gemini": "gemini-2.5-flash",
}
OUTPUT_DIRECTIONS = {"anthropic-to-openai": "anthropic", "bedrock-to-openai": "bedrock", "gemini-to-openai": "gemini"}
THROUGHPUT_TARGET = 0.5
RSS_GROWTH_TARGET_MB = 32
UPLOAD_RSS_TARGET_MB = 64
UPLOAD_CPU_TARGET = 1.7
CONVERSION_RUNS = 5
UPLOAD_CPU_RUNS = 7  # this machine class (a VM) moves single CPU figures by a tenth or more
# the providers whose uploads the gateway converts, each with a file of its own model (the pass-through reads it too)
UPLOAD_MODELS = {provider: INPUT_DIRECTIONS[f"openai-to-{provider}"] for provider in ("bedrock", "gemini", "anthropic")}
COLD_START_TARGET_MS = 150
COLD_RUNS = 7


def child(
    module: str, *args: str, env: dict[str, str] | None = None, python: list[str] | None = None
) -> dict[str, Any]:
    """Run ``python -m bench.<module> args`` and return the JSON its last output line holds. ``python``: the
    interpreter command (default: this one)."""
    done = subprocess.run(
        [*(python or [sys.executable]), "-m", f"bench.{module}", *args],
        cwd=ROOT,
        env=env or os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench.{module} {' '.join(args)} failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's server in its own process (its memory is not the gateway's), on loopback."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the moto server did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def aws_env(endpoint: str) -> dict[str, str]:
    """The environment of a deployed function, with AWS at ``endpoint``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BATCHBRIDGE_", "AWS_"))}
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "BATCHBRIDGE_STORAGE": "aws",
            "BATCHBRIDGE_TABLE": "bench",
            "BATCHBRIDGE_BUCKET": "bench",
            "BATCHBRIDGE_BEDROCK_BUCKET": "bench",
            "BATCHBRIDGE_OWNER_SECRET": "bench-owner-secret-0123456789abcdef",
            "BATCHBRIDGE_KMS_KEY": "alias/bench",
            "BATCHBRIDGE_REFRESH_SECONDS": "0",
            # gateway-key mode, as template.yaml always deploys (the events' key is a gateway key)
            "BATCHBRIDGE_API_KEYS": "sk-local-example,bench-key",
            "OPENAI_API_KEY": "sk-bench-openai",
            "POWERTOOLS_SERVICE_NAME": "batchbridge",
            "POWERTOOLS_METRICS_NAMESPACE": "batchbridge",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "MALLOC_ARENA_MAX": "2",  # as template.yaml sets it for every function
            "AWS_LAMBDA_FUNCTION_NAME": "bench",  # as Lambda sets it (functions start with the collector paused)
            # as Lambda sets it: X-Ray tracing is on, its SDK loaded by sampled invocations only (none here)
            "LAMBDA_TASK_ROOT": str(ROOT / "functions"),
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def prepare_aws(env: dict[str, str]) -> None:
    import boto3

    from batchbridge.store.schema import ensure_bucket, ensure_table
    from batchbridge.store.vault import ensure_key

    def client(service: str) -> Any:
        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=env["AWS_ENDPOINT_URL"],
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )

    ensure_table(client("dynamodb"), env["BATCHBRIDGE_TABLE"])
    ensure_bucket(client("s3"), env["BATCHBRIDGE_BUCKET"])
    ensure_key(client("kms"), env["BATCHBRIDGE_KMS_KEY"])
    env["BATCHBRIDGE_WORK_QUEUE_URL"] = client("sqs").create_queue(QueueName="bench")["QueueUrl"]


def conversions(sizes: list[int], workdir: Path) -> list[dict[str, Any]]:
    rows = []
    for size in sizes:
        files: dict[str, Path] = {}
        for direction, model in INPUT_DIRECTIONS.items():
            files[direction] = workdir / f"{direction}-{size}.jsonl"
            data.write_input(files[direction], size * 1024 * 1024, model)
        for direction, provider in OUTPUT_DIRECTIONS.items():
            files[direction] = workdir / f"{direction}-{size}.jsonl"
            data.write_results(files[direction], provider, size * 1024 * 1024)
        for direction, path in files.items():
            floors, runs = [], []
            for _ in range(CONVERSION_RUNS):  # interleaved, so a slow spell of the machine falls on both
                floors.append(child("convert", "floor", str(path)))
                runs.append(child("convert", direction, str(path)))
            floor = min(floors, key=lambda r: r["seconds"])
            run = min(runs, key=lambda r: r["seconds"])
            mb = run["bytes"] / 1e6
            rows.append(
                {
                    "direction": direction,
                    "size_mb": size,
                    "mb_per_s": mb / run["seconds"],
                    "floor_mb_per_s": mb / floor["seconds"],
                    "ratio": floor["seconds"] / run["seconds"],
                    "peak_mb": run["peak_mb"],
                }
            )
            path.unlink()
    return rows


def upload_cpu(sizes: list[int], workdir: Path) -> list[dict[str, Any]]:
    """Each converting provider's upload against the pass-through's, on the same file, in CPU seconds (bench/
    upload_cpu.py); each figure the fastest of UPLOAD_CPU_RUNS runs, the runs interleaved."""
    from batchbridge.domain.validation import MAX_BATCH_FILE_BYTES

    rows = []
    for size in sizes:
        for provider, model in UPLOAD_MODELS.items():
            path = workdir / f"upload-{provider}-{size}.jsonl"
            # a batch file files.create takes: under its limit by more than a line
            data.write_input(path, min(size * 1024 * 1024, MAX_BATCH_FILE_BYTES - 64 * 1024), model)
            measures = {
                "floor": ("floor",),
                "pass_through": ("pass", "openai-compatible"),
                "converting": ("pass", provider),
                "upload_pass_through": ("upload", "openai-compatible"),
                "upload_converting": ("upload", provider),
            }
            runs: dict[str, list[float]] = {name: [] for name in measures}
            for _ in range(UPLOAD_CPU_RUNS):
                for name, args in measures.items():
                    runs[name].append(child("upload_cpu", *args, str(path))["cpu_seconds"])
            fastest = {name: min(seconds) for name, seconds in runs.items()}
            floor = fastest["floor"]
            rows.append(
                {
                    "provider": provider,
                    "bytes": path.stat().st_size,
                    **fastest,
                    "ratio": (fastest["converting"] - fastest["pass_through"]) / floor,
                    "upload_ratio": (fastest["upload_converting"] - fastest["upload_pass_through"]) / floor,
                }
            )
            path.unlink()
    return rows


def cold_starts(env: dict[str, str], workdir: Path) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Each function's cold start in the Lambda package (bench/package.py), with an event whose objects exist."""
    from batchbridge.api.operations import OPERATIONS

    python, package_env = package.python(package.build(workdir / "package"))
    round_keys = [f"sk-bench-round-{round_number}" for round_number in range(COLD_RUNS)]
    env = env | package_env | {"BATCHBRIDGE_API_KEYS": ",".join([env["BATCHBRIDGE_API_KEYS"], *round_keys])}
    # The fastest of several runs, for the floor and for each function alike: on a shared machine the minimum is
    # the figure least disturbed by everything else that runs. Rounds interleave the floor with the functions,
    # so both are sampled under the same conditions.
    floors: dict[str, list[float]] = {"floor": [], "floor-paused": []}
    runs: dict[str, list[dict[str, Any]]] = {operation: [] for operation in OPERATIONS}
    for round_number in range(COLD_RUNS):
        events = workdir / f"events-{round_number}"
        events.mkdir()
        child("seed", str(events), round_keys[round_number], *OPERATIONS, env=env, python=python)
        for floor_kind, measured_floors in floors.items():
            measured_floors.append(child("coldstart", floor_kind, env=env, python=python)["ms"])
        for operation in OPERATIONS:
            measured = child("coldstart", operation, str(events / f"{operation}.json"), env=env, python=python)
            if not 200 <= measured["status"] < 300:
                raise RuntimeError(f"{operation}'s first invocation answered {measured['status']}, not its real work")
            runs[operation].append(measured)
    results = {}
    for operation, measured_runs in runs.items():
        fastest = min(measured_runs, key=lambda run: run["ms"])
        results[operation] = {"ms": fastest["ms"], "import_ms": fastest["import_ms"], "status": fastest["status"]}
    return {kind: min(measured) for kind, measured in floors.items()}, results


def machine() -> str:
    memory = ""
    try:
        with open("/proc/meminfo") as meminfo:
            memory = f", {int(meminfo.readline().split()[1]) / 1024 / 1024:.0f} GiB RAM"
    except OSError:
        pass
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), cpu)
    except OSError:
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{cpu}, {os.cpu_count()} cores{memory}; {system}; Python {platform.python_version()}"


def verdict(ok: bool) -> str:
    return "meets" if ok else "**misses**"


def report(
    rows: list[dict[str, Any]],
    uploads: list[dict[str, Any]],
    upload_cpus: list[dict[str, Any]],
    cold: tuple[dict[str, float], dict[str, dict[str, float]]],
    warm: dict[str, dict[str, float]],
) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with `python -m bench` on: {machine()}.",
        "",
        "## Conversion throughput (floor: orjson loads + dumps of each line of the same file)",
        "",
        f"Target: ratio >= {THROUGHPUT_TARGET}. MB/s in the converting process's CPU time, the fastest of "
        f"{CONVERSION_RUNS} runs "
        "interleaved with the floor's.",
        "",
        "| direction | file | MB/s | floor MB/s | ratio | target | peak RSS |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['direction']} | {row['size_mb']} MB | {row['mb_per_s']:.0f} | {row['floor_mb_per_s']:.0f} | "
            f"{row['ratio']:.2f} | {verdict(row['ratio'] >= THROUGHPUT_TARGET)} | {row['peak_mb']:.1f} MB |"
        )
    sizes = sorted({row["size_mb"] for row in rows})
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        lines += [
            "",
            f"## Peak RSS, {large} MB file against {small} MB file",
            "",
            f"Target: the {large} MB run's peak within {RSS_GROWTH_TARGET_MB} MB of the {small} MB run's.",
            "",
            "| direction | growth | target |",
            "|---|---|---|",
        ]
        peaks = {(row["direction"], row["size_mb"]): row["peak_mb"] for row in rows}
        for direction in [*INPUT_DIRECTIONS, *OUTPUT_DIRECTIONS]:
            growth = peaks[(direction, large)] - peaks[(direction, small)]
            lines.append(f"| {direction} | {growth:+.1f} MB | {verdict(growth <= RSS_GROWTH_TARGET_MB)} |")
    lines += [
        "",
        "## An upload assembled, checked, converted and forwarded (uploads.complete, Bedrock staging)",
        "",
        f"Target: RSS added at most {UPLOAD_RSS_TARGET_MB} MB. CPU: the gateway process's own CPU seconds (S3 and "
        "DynamoDB are a moto server in another process): what a function with one vCPU (1769 MB) spends.",
        "",
        "| file | seconds | CPU seconds | RSS added | target |",
        "|---|---|---|---|---|",
    ]
    for upload in uploads:
        lines.append(
            f"| {upload['bytes'] / 1e6:.0f} MB | {upload['seconds']:.1f} | {upload['cpu_seconds']:.1f} | "
            f"{upload['added_mb']:.1f} MB | {verdict(upload['added_mb'] <= UPLOAD_RSS_TARGET_MB)} |"
        )
    lines += upload_cpu_report(upload_cpus)
    floors, functions = cold
    floor, paused_floor = floors["floor"], floors["floor-paused"]
    lines += [
        "",
        f"## Cold start of each Lambda function (import + first invocation with its infra/events event; fastest of "
        f"{COLD_RUNS} runs)",
        "",
        "Measured in the Lambda package as `sam build` makes it (functions/Makefile: requirements.txt and the "
        "gateway, with bytecode; boto3, which the runtime provides, at the local version), run with `python -S` so "
        "nothing else is importable. Each event's objects (file, batch, upload and part) are created beforehand, "
        "so every first invocation does its operation's real work, provider call and storage writes included.",
        "",
        f"Floor: importing fastapi + mangum + boto3 = {floor:.0f} ms. "
        f"Target: at most floor + {COLD_START_TARGET_MS} ms.",
        "",
        "In Lambda, the functions start with Python's garbage collector paused (batchbridge/handlers): part of their "
        "margin is collection work the floor's plain imports still do. The last column measures against a floor "
        f"that pauses it too ({paused_floor:.0f} ms), for comparison.",
        "",
        "| function | import | import + first invocation | answered | over floor | target | over the paused floor |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, result in functions.items():
        over = result["ms"] - floor
        lines.append(
            f"| {name} | {result['import_ms']:.0f} ms | {result['ms']:.0f} ms | {result['status']:.0f} | "
            f"{over:+.0f} ms | {verdict(over <= COLD_START_TARGET_MS)} | {result['ms'] - paused_floor:+.0f} ms |"
        )
    lines += [
        "",
        "## Warm retrieve: through the Lambda handler against the fake upstream directly",
        "",
        "| path | p50 | p99 |",
        "|---|---|---|",
        f"| upstream directly | {warm['direct']['p50_ms']:.2f} ms | {warm['direct']['p99_ms']:.2f} ms |",
        f"| Lambda handler | {warm['handler']['p50_ms']:.2f} ms | {warm['handler']['p99_ms']:.2f} ms |",
        f"| overhead | {warm['handler']['p50_ms'] - warm['direct']['p50_ms']:.2f} ms | "
        f"{warm['handler']['p99_ms'] - warm['direct']['p99_ms']:.2f} ms |",
        "",
        "The handler side includes the DynamoDB read and write of the batch record (a moto server on loopback, in "
        "another process) besides the event and response mapping.",
        "",
    ]
    return "\n".join(lines)


def upload_cpu_report(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "",
        "## An upload's conversion over a pass-through upload (CPU; floor: orjson loads + dumps of each line of the "
        "same file)",
        "",
        "The gateway's one pass over a batch upload's lines (`FileService.checked_input`: each line parsed once, "
        "checked, converted into a sink, as the conversion benchmark writes) against the same pass for the "
        "pass-through provider (openai-compatible: checked, kept as it is), in the process's CPU seconds "
        f"(`time.process_time()`, the fastest of {UPLOAD_CPU_RUNS} runs); the ratio is their difference in floors. "
        f"Target: ratio <= {UPLOAD_CPU_TARGET}. The last column, for comparison (no target): the same difference "
        "for the whole `files.create`, the converted file spooled and sent (to a sink) besides.",
        "",
        "| provider | file | floor | pass-through | converting | ratio | target | whole upload |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['provider']} | {row['bytes'] / 1e6:.0f} MB | {row['floor']:.3f} s | {row['pass_through']:.3f} s | "
            f"{row['converting']:.3f} s | {row['ratio']:.2f} | {verdict(row['ratio'] <= UPLOAD_CPU_TARGET)} | "
            f"{row['upload_ratio']:.2f} |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--sizes", default="20,200", help="file sizes in MB (default 20,200)")
    parser.add_argument("--results", default=str(ROOT / "bench" / "RESULTS.md"))
    parser.add_argument("--warm-requests", type=int, default=300)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="batchbridge-bench-") as workdir:
        print("conversions ...", flush=True)
        rows = conversions(sizes, Path(workdir))
        print("upload CPU ...", flush=True)
        upload_cpus = upload_cpu(sizes, Path(workdir))
    with moto_server() as endpoint:
        env = aws_env(endpoint)
        prepare_aws(env)
        print("uploads ...", flush=True)
        uploads = []
        for size in sizes:
            state = str(Path(tempfile.gettempdir()) / f"batchbridge-bench-upload-{os.getpid()}-{size}.json")
            child("upload_rss", "prepare", str(size), state, env=env)
            uploads.append(child("upload_rss", "complete", state, env=env))
            os.unlink(state)
        print("cold starts ...", flush=True)
        from tests.fakes.openai_upstream import create_app
        from tests.fakes.server import running_server

        with (
            running_server(create_app()) as upstream,  # the functions' first calls reach a provider
            tempfile.TemporaryDirectory(prefix="batchbridge-bench-") as workdir,
        ):
            cold = cold_starts(env | {"BATCHBRIDGE_OPENAI_BASE_URL": upstream + "/v1"}, Path(workdir))
        print("warm retrieves ...", flush=True)
        warm = child("warm", str(args.warm_requests), env=env)
    text = report(rows, uploads, upload_cpus, cold, warm)
    Path(args.results).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
