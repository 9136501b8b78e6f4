"""Serving the recommender from many processes at once (sampleMovieLensMPS).

N worker processes answer one fixed, seeded stream of queries (a user and its candidate movies;
each worker takes every N-th query), each with its own copy of the model: ONNX Runtime on the
CPU (``ort``), the TensorRT engine (``trt``, GPU host) or the PyTorch model on CUDA where no
TensorRT runs (``torch``). Workers load their model, wait at a barrier, then answer their
queries one call per query, timing each call; throughput is the number of queries over the time
from the barrier to the last worker's end. The answers (top-k movie ids and scores) are kept
in stream order, so that runs with any number of workers can be compared.

With ``mps``, CUDA's Multi-Process Service is started for the run: a control daemon with
private pipe and log directories, which the workers join through the same environment; it is
stopped afterwards, also when a worker fails. ``mps="auto"`` uses it for the GPU backends
(``trt``, ``torch``) where a GPU and ``nvidia-cuda-mps-control`` are present, and not
otherwise; ``mps=True`` insists and fails where either is missing. The GPU's compute mode and
other settings are never touched (NVIDIA advises exclusive-process mode under MPS; that is the
administrator's choice).
"""

import logging
import multiprocessing
import os
import queue
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workflow.data.movielens import Interactions
from workflow.errors import GpuUnavailable, PipelineError
from workflow.models.checkpoint import load_state_dict
from workflow.models.ncf import neumf
from workflow.repro import settings
from workflow.score.recommend import ranking, recommend
from workflow.score.runtimes import RUNNER_MODULES, make_runner
from workflow.trt.gpu import gpu_info

log = logging.getLogger(__name__)

BACKENDS = ("ort", "trt", "torch")
#: Backends whose workers run on a GPU (MPS serves them; the rule asks for a GPU).
GPU_BACKENDS = ("trt", "torch")
#: Model files each backend reads, by role.
BACKEND_FILES = {"ort": ("onnx",), "trt": ("plan", "meta"), "torch": ("weights",)}
#: Library modules each backend loads by name (for the rule's code fingerprint).
BACKEND_MODULES = {"ort": (RUNNER_MODULES["ort"],), "trt": (RUNNER_MODULES["trt"],), "torch": ()}
#: Precisions the PyTorch model is served in (its weights cast); INT8 exists only as a graph.
TORCH_DTYPES = {"fp32": "float32", "fp16": "float16"}
#: Values of the ``mps`` setting.
MPS_CHOICES = ("auto", True, False)
MPS_CONTROL = "nvidia-cuda-mps-control"
#: How long to wait for the MPS control daemon to exit after ``quit``.
MPS_STOP_S = 10.0


@dataclass(frozen=True)
class ServeResult:
    """One serving run: ``answers`` (queries, k) movie ids and ``scores``, in stream order;
    ``latencies_ms`` per query; ``seconds`` from the start barrier to the last worker's end;
    ``device`` the workers ran on (``cpu``, ``cuda`` or the GPU's name)."""

    processes: int
    answers: np.ndarray
    scores: np.ndarray
    latencies_ms: np.ndarray
    seconds: float
    device: str = "cpu"

    def summary(self) -> dict[str, Any]:
        lat = self.latencies_ms
        return {
            "processes": self.processes,
            "queries": int(len(lat)),
            "seconds": self.seconds,
            "queries_per_s": len(lat) / self.seconds,
            "latency_ms": {
                "mean": float(lat.mean()),
                "p50": float(np.percentile(lat, 50)),
                "p90": float(np.percentile(lat, 90)),
                "p99": float(np.percentile(lat, 99)),
            },
        }


def query_stream(
    users: np.ndarray, movies: np.ndarray, *, count: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` queries drawn (seeded, with replacement) from the test queries."""
    rows = np.random.default_rng(seed).integers(0, len(users), size=count)
    return users[rows], movies[rows]


def check_backend(backend: str, precision: str) -> None:
    """Refuse a backend that cannot serve ``precision``.

    Raises:
        PipelineError: unknown backend, or ``torch`` with a precision the PyTorch model has no
            form of (INT8 is a quantized graph: served by ``ort`` or ``trt``).
    """
    if backend not in BACKENDS:
        raise PipelineError(
            f"serve.backend={backend!r}", "unknown backend", f"choose among {BACKENDS}"
        )
    if backend == "torch" and precision not in TORCH_DTYPES:
        raise PipelineError(
            f"serve.backend=torch with precision {precision}",
            f"the PyTorch model is served in {sorted(TORCH_DTYPES)} only ({precision} exists "
            "only as a quantized graph)",
            "set serve.backend to ort (ONNX Runtime) or trt (the engine) to serve it, or leave "
            f"{precision} out of precisions",
        )


def _answerer(backend: str, files: dict[str, str], model: dict[str, Any], k: int, threads: int):
    """A function answering one query batch with (ids, scores), its cleanup, and the device
    it runs on."""
    if backend in ("ort", "trt"):
        runner = make_runner(backend, files, threads=threads)
        runner.activate()

        def answer(users: np.ndarray, movies: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return recommend(runner, users, movies, k=k, batch_size=len(users))

        return answer, runner.deactivate, "cpu" if backend == "ort" else "cuda"
    import torch

    torch.set_num_threads(threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = getattr(torch, TORCH_DTYPES[model.get("precision", "fp32")])
    net = load_state_dict(
        neumf(model["users"], model["movies"], factors=model["factors"], layers=model["layers"]),
        files["weights"],
    )
    net = net.to(device=device, dtype=dtype).eval()
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"

    def answer_torch(users: np.ndarray, movies: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            m = torch.from_numpy(movies).to(device)
            scores = net(torch.from_numpy(users).to(device), m)
            top = torch.topk(scores, k, dim=1, sorted=True)
            ids = torch.gather(m, 1, top.indices)
            return ids.cpu().numpy(), top.values.float().cpu().numpy()

    return answer_torch, lambda: None, where


def _worker(job: dict[str, Any], barrier: Any, results: Any) -> None:
    """One serving process: load, wait for the others, answer every N-th query."""
    try:
        answer, close, device = _answerer(
            job["backend"], job["files"], job["model"], job["k"], job["threads"]
        )
        users, movies = job["users"], job["movies"]
        answer(users[:1], movies[:1])  # warm-up, outside the timing
        barrier.wait()
        start = time.perf_counter()
        ids, scores, latencies = [], [], []
        for index in range(len(users)):
            t0 = time.perf_counter()
            top, values = answer(users[index : index + 1], movies[index : index + 1])
            latencies.append((time.perf_counter() - t0) * 1e3)
            ids.append(top[0])
            scores.append(values[0])
        end = time.perf_counter()
        close()
        results.put(
            (
                job["worker"],
                np.array(ids),
                np.array(scores),
                np.array(latencies),
                start,
                end,
                device,
            )
        )
    except BaseException as err:  # reported to the parent, which raises
        barrier.abort()
        results.put((job["worker"], None, None, None, repr(err), None, None))


def serve(
    backend: str,
    files: dict[str, str],
    users: np.ndarray,
    movies: np.ndarray,
    *,
    processes: int,
    k: int,
    threads: int = 1,
    model: dict[str, Any] | None = None,
    timeout_s: float = 600.0,
) -> ServeResult:
    """Answer the query stream with ``processes`` worker processes (see the module docstring).

    Args:
        backend: ``ort`` (files: ``onnx``), ``trt`` (``plan``, ``meta``) or ``torch``
            (``weights``; ``model`` gives users, movies, factors, layers and optionally
            precision, ``fp32`` or ``fp16``: the weights' type).
        files: the model files by role.
        users, movies: the query stream.
        processes: worker processes.
        k: movies per answer.
        threads: intra-op threads per worker.
        timeout_s: longest wait for the workers.

    Raises:
        PipelineError: unknown backend, fewer than one process or more than queries, or a
            worker failed (its error quoted).
    """
    if backend not in BACKENDS:
        raise PipelineError(f"serve backend {backend!r}", f"choose among {BACKENDS}")
    if not 1 <= processes <= len(users):
        raise PipelineError(
            f"serve processes={processes}", f"need 1 to {len(users)} (one query each at least)"
        )
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    results = context.Queue()
    workers = []
    for worker in range(processes):
        job = {
            "worker": worker,
            "backend": backend,
            "files": files,
            "model": model or {},
            "k": k,
            "threads": threads,
            "users": users[worker::processes],
            "movies": movies[worker::processes],
        }
        process = context.Process(target=_worker, args=(job, barrier, results), daemon=True)
        process.start()
        workers.append(process)
    got: dict[int, tuple] = {}
    deadline = time.monotonic() + timeout_s
    try:
        while len(got) < processes:
            try:
                worker, ids, scores, lat, start, end, device = results.get(timeout=0.5)
            except queue.Empty:
                dead = [w for w, p in enumerate(workers) if p.exitcode is not None and w not in got]
                if dead or time.monotonic() > deadline:
                    barrier.abort()
                    raise PipelineError(
                        f"serving workers {dead}" if dead else "serving",
                        "ended without answering" if dead else f"no answer in {timeout_s} s",
                        "run serving from a script whose top level is guarded by "
                        "if __name__ == '__main__' (workers are spawned and import it)",
                    ) from None
                continue
            if ids is None:
                raise PipelineError(f"serving worker {worker}", f"failed: {start}")
            got[worker] = (ids, scores, lat, start, end, device)
    finally:
        for process in workers:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    answers = np.empty((len(users), k), dtype=np.int64)
    scores = np.empty((len(users), k), dtype=np.float32)
    latencies = np.empty(len(users))
    for worker, (ids, values, lat, _, _, _) in got.items():
        answers[worker::processes], scores[worker::processes] = ids, values
        latencies[worker::processes] = lat
    seconds = max(g[4] for g in got.values()) - min(g[3] for g in got.values())
    return ServeResult(processes, answers, scores, latencies, seconds, got[0][5])


def check_mps(backend: str, mps: bool | str) -> None:
    """Refuse an ``mps`` setting that cannot hold for ``backend`` on any host.

    Raises:
        PipelineError: ``mps`` is not ``auto``, true or false, or it is true for ``ort`` (ONNX
            Runtime serves from the CPU; MPS shares a GPU).
    """
    if not (isinstance(mps, bool) or mps == "auto"):
        raise PipelineError(f"serve.mps={mps!r}", "unknown setting", "choose auto, true or false")
    if mps is True and backend not in GPU_BACKENDS:
        raise PipelineError(
            f"serve.mps: true with serve.backend: {backend}",
            "MPS shares a GPU between processes, and this backend serves from the CPU",
            f"set serve.backend to one of {GPU_BACKENDS}, or serve.mps to auto or false",
        )


def use_mps(backend: str, mps: bool | str) -> bool:
    """Whether a serving run goes through MPS: ``auto`` for a GPU backend where a GPU and
    ``nvidia-cuda-mps-control`` are found here; true or false as given (see :func:`check_mps`;
    :func:`mps_daemon` refuses true where either is missing)."""
    check_mps(backend, mps)
    if mps != "auto":
        return bool(mps)
    if backend not in GPU_BACKENDS:
        return False
    if shutil.which(MPS_CONTROL) is None:
        log.info("mps | auto: no %s on this host, serving without MPS", MPS_CONTROL)
        return False
    gpu, reason = gpu_info()
    if gpu is None:
        log.info("mps | auto: no usable GPU (%s), serving without MPS", reason)
        return False
    return True


def mps_servers(env: dict[str, str]) -> list[int]:
    """Process ids of the MPS servers the control daemon of ``env`` runs (a server starts
    when the first CUDA client connects), from its ``get_server_list`` command."""
    control = shutil.which(MPS_CONTROL)
    if control is None:
        return []
    listed = subprocess.run(
        [control],
        input="get_server_list\n",
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=MPS_STOP_S,
    )
    return [int(word) for word in listed.stdout.split() if word.isdigit()]


@contextmanager
def mps_daemon() -> Iterator[dict[str, str]]:
    """Run CUDA's MPS control daemon for the duration, with private pipe and log folders.

    Yields the environment the workers need (``CUDA_MPS_PIPE_DIRECTORY``,
    ``CUDA_MPS_LOG_DIRECTORY``); it is also set in this process, and removed afterwards. The
    daemon is asked to quit on exit, also after an error.

    Raises:
        PipelineError: no ``nvidia-cuda-mps-control``, or the daemon did not start.
        GpuUnavailable: no usable CUDA GPU.
    """
    control = shutil.which(MPS_CONTROL)
    if control is None:
        raise PipelineError(
            MPS_CONTROL,
            "not found on the PATH (MPS comes with the CUDA driver's tools)",
            "serve on a GPU host that has it, or set serve.mps: auto or false (--mps auto or off)",
        )
    gpu, reason = gpu_info()
    if gpu is None:
        raise GpuUnavailable(
            MPS_CONTROL,
            f"MPS needs a CUDA GPU ({reason})",
            "serve on a GPU host, or set serve.mps: auto or false (--mps auto or off)",
        )
    root = Path(tempfile.mkdtemp(prefix="mps-"))
    env = {
        "CUDA_MPS_PIPE_DIRECTORY": str(root / "pipe"),
        "CUDA_MPS_LOG_DIRECTORY": str(root / "log"),
    }
    for folder in env.values():
        Path(folder).mkdir()
    full = {**os.environ, **env}
    started = subprocess.run([control, "-d"], env=full, capture_output=True, text=True)
    if started.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise PipelineError(MPS_CONTROL, f"could not start: {started.stderr.strip()}")
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    log.info("mps | control daemon started, pipes in %s", env["CUDA_MPS_PIPE_DIRECTORY"])
    try:
        yield env
    finally:
        quit_sent = subprocess.run(
            [control], input="quit\n", env=full, capture_output=True, text=True
        )
        # the daemon removes its pid file when it exits (measured on an H100 host: < 1 s)
        pid_file = Path(env["CUDA_MPS_PIPE_DIRECTORY"]) / "nvidia-cuda-mps-control.pid"
        deadline = time.monotonic() + MPS_STOP_S
        while pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid_file.exists():
            log.error("mps | the control daemon did not exit in %s s", MPS_STOP_S)
        else:
            log.info("mps | control daemon stopped (quit exit %d)", quit_sent.returncode)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(root, ignore_errors=True)


def serving_report(
    backend: str,
    files: dict[str, str],
    data: Interactions,
    *,
    processes: list[int],
    queries: int,
    seed: int,
    k: int,
    threads: int,
    model: dict[str, Any] | None = None,
    precision: str = "fp32",
    mps: bool | str = False,
) -> tuple[dict[str, Any], np.ndarray]:
    """Serve the same seeded query stream with each worker count in ``processes``.

    Args:
        backend: ``ort``, ``trt`` or ``torch`` (see :func:`serve`); ``files`` its model files.
        data: the interactions; the queries are drawn from its test queries.
        model: for ``torch``, the network's ``factors`` and ``layers`` (users and movies are
            the data's).
        precision: the files' precision; for ``torch``, the type the weights are cast to.
        mps: ``auto``, true or false (see :func:`use_mps`).

    Returns:
        The report (per worker count: throughput, latency percentiles, whether the answers
        equal the first run's; HR@k and NDCG@k of the answers; the settings, the device and
        whether MPS served) and the first run's answers (queries, k).

    Raises:
        PipelineError: a run's answers differ from the first run's, a backend that cannot
            serve ``precision`` (:func:`check_backend`), MPS asked for where it cannot run
            (:func:`mps_daemon`), or see :func:`serve`.
    """
    check_backend(backend, precision)
    served_by_mps = use_mps(backend, mps)
    network = {"users": data.num_users, "movies": data.num_movies, "precision": precision}
    network |= model or {}
    users, movies = query_stream(*data.candidates(), count=queries, seed=seed)
    runs, first, servers = [], None, []
    with mps_daemon() if served_by_mps else nullcontext() as env:
        for count in processes:
            result = serve(
                backend, files, users, movies, processes=count, k=k, threads=threads, model=network
            )
            if first is None:
                first = result
            same = bool(np.array_equal(result.answers, first.answers))
            runs.append(result.summary() | {"answers_equal_first_run": same})
            log.info("serve | %s", runs[-1])
            if not same:
                raise PipelineError(
                    f"serving with {count} processes",
                    f"answers differ from the {first.processes}-process run",
                )
        if env is not None:
            servers = mps_servers(env)
            log.info("mps | servers running for the workers: %s", servers)
    report = {
        "backend": backend,
        "precision": precision,
        "device": first.device,
        "mps": served_by_mps,
        "mps_setting": mps,
        "k": k,
        "queries": queries,
        "seed": seed,
        "threads_per_process": threads,
        "cpus": os.cpu_count(),
        "runs": runs,
        "served": ranking(first.answers, data.test_movies[users], k),
        "reproducibility": settings(threads=threads),
    }
    if served_by_mps:
        report["mps_servers"] = len(servers)
    return report, first.answers
