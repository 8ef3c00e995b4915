"""The job loop: claim a job from the queue, understand it, run it, hand back the result.

Model work runs on one dedicated thread (one job at a time per worker, as on a GPU), so the
event loop stays free for the bot; progress from that thread is handed back to the loop.
The same loop serves the in-process default and remote workers: it only sees the
``JobQueue`` protocol.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from engine.imageio import decode_image, encode_png
from engine.models import OutOfMemory
from engine.queue import JobQueue, JobRequest, JobResult, ProgressEvent
from engine.registry import Cancelled, IntentError
from engine.runtime import Engine, reply_text

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

CANCEL_POLL_SECONDS = 0.25


def local_worker_id() -> str:
    """This process's worker id: ``host:pid``, so another process on the host can tell
    whether the worker behind a running job is still alive (``worker_alive``)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_alive(worker_id: str) -> bool:
    """Whether ``worker_id`` names a live Python process on this host, other than this one.

    False for other hosts and other id formats: nothing here can tell, and recovering their
    jobs is what a single-host start-up did before. This process's own pid counts as dead: a
    container restarted with the same hostname and pid 1 left those jobs behind. A pid that
    the system reused for a non-Python process counts as dead too."""
    host, _, pid_text = worker_id.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    pid = int(pid_text)
    cmdline = f"/proc/{pid}/cmdline"
    if os.path.exists("/proc/self/cmdline"):
        try:
            with open(cmdline, "rb") as f:
                args = f.read().lower()
        except OSError:
            return False
        return b"python" in args or b"dialogdraw" in args
    try:  # no /proc (macOS): existence is all we can learn
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Worker:
    def __init__(self, queue: JobQueue, engine: Engine, worker_id: str | None = None) -> None:
        self.queue = queue
        self.engine = engine
        self.worker_id = worker_id or local_worker_id()
        self._model_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dialogdraw-model")
        self.limits = engine.settings.limits

    async def run(self, stop: asyncio.Event) -> None:
        """Serve jobs until ``stop`` is set."""
        log.info("worker %s started", self.worker_id)
        while not stop.is_set():
            if not await self.run_once():
                waiter = asyncio.ensure_future(self.queue.wait_for_work(self.engine.settings.queue.poll_seconds))
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                for task in (waiter, stopper):
                    task.cancel()
        self._model_thread.shutdown(wait=True)

    async def run_once(self) -> bool:
        """Process one job if there is one; return whether there was."""
        request = await self.queue.claim(self.worker_id)
        if request is None:
            return False
        await self.process(request)
        return True

    async def process(self, request: JobRequest) -> None:
        job_id = request.job_id
        cancel_flag = threading.Event()
        watcher = asyncio.create_task(self._watch_cancel(job_id, cancel_flag))
        timings: dict[str, float] = {}
        try:
            await self.queue.progress(ProgressEvent(job_id, "understanding"))
            if request.candidates > 1 and request.forced_intent is None:
                understood = await self.in_model_thread(self.engine.understand_candidates, request, request.candidates)
            else:
                understood = [await self.in_model_thread(self.engine.understand, request)]
            timings["irpem_s"] = sum(u.seconds for u in understood)
            results = [await self._execute(request, understood[0], cancel_flag)]
            for alternative in understood[1:]:
                try:
                    results.append(await self._execute(request, alternative, cancel_flag))
                except IntentError as err:  # B cannot run here: answer with A alone
                    log.info("job %s: candidate dropped: %s", job_id, err)
            result = results[0]
            if len(results) > 1:
                result = JobResult(**{**vars(results[0]), "candidates": results})
            result.timings = {**timings, **result.timings}
            await self.queue.complete(job_id, result)
        except Cancelled:
            log.info("job %s cancelled", job_id)
        except IntentError as err:
            # The request cannot be carried out as understood: no retry would change that.
            await self.queue.fail(job_id, f"I couldn't do that: {err}", retry=False)
        except OutOfMemory as err:
            # The cache was emptied (engine.pipelines.common.Kind); the same request would
            # run out of memory again, so it is not retried.
            log.warning("job %s: %s", job_id, err)
            await self.queue.fail(job_id, f"I couldn't do that: {err}", retry=False)
        except Exception as err:  # noqa: BLE001 - the worker must survive any one job
            log.exception("job %s failed", job_id)
            await self.queue.fail(job_id, _plain_error(err), retry=True)
        finally:
            watcher.cancel()

    async def _execute(self, request: JobRequest, understood, cancel_flag: threading.Event) -> JobResult:
        """Run one understood intent: load its images, run its pipeline, store the output."""
        job_id = request.job_id
        loop = asyncio.get_running_loop()
        intent = understood.intent
        numbers = self.engine.image_inputs(intent, request)
        images = {f: await self._load(request, n) for f, n in numbers.items()}
        await self.queue.progress(ProgressEvent(job_id, "running", intent=intent.intent))

        def progress(step: int, total: int) -> None:
            event = ProgressEvent(job_id, "step", step=step, total=total, intent=intent.intent)
            asyncio.run_coroutine_threadsafe(self.queue.progress(event), loop)

        start = time.perf_counter()
        output = await self.in_model_thread(self.engine.run, intent, images, request, progress, cancel_flag.is_set)
        pipeline_s = time.perf_counter() - start
        # PNG encoding is CPU work (tens of ms for a large image): not on the event loop.
        refs = [await self.queue.put_image(await asyncio.to_thread(encode_png, img)) for img in output.images]
        parent = next(iter(numbers.values()), None)
        return JobResult(
            intent=intent.as_dict(),
            reply=reply_text(intent, output),
            images=refs,
            parent_image=parent if refs else None,
            irpem_raw=understood.raw,
            timings={"pipeline_s": pipeline_s},
        )

    async def in_model_thread(self, fn, *args):
        """Run ``fn`` on the worker's one model thread. All torch work of a process belongs
        there: each thread that calls torch brings its own OpenMP pool, and two pools on a
        small CPU slow every call about 3x (measured here: 0.24 s -> 0.70 s per tiny job)."""
        return await asyncio.get_running_loop().run_in_executor(self._model_thread, fn, *args)

    async def _load(self, request: JobRequest, number: int) -> Image.Image:
        # Stored images were checked on the way in, but outputs (an upscale) may exceed the
        # attachment limits; the bound only guards against a corrupt or planted store file.
        data = await self.queue.get_image(request.image_refs[number])
        return await asyncio.to_thread(
            decode_image,
            data,
            max_bytes=self.limits.max_attachment_bytes * 4,
            max_pixels=self.limits.max_image_pixels * 4,
        )

    async def _watch_cancel(self, job_id: int, flag: threading.Event) -> None:
        while not flag.is_set():
            await asyncio.sleep(CANCEL_POLL_SECONDS)
            if await self.queue.is_cancelled(job_id):
                flag.set()


def _plain_error(err: Exception) -> str:
    text = str(err).splitlines()[0][:200] if str(err) else err.__class__.__name__
    if "out of memory" in text.lower():
        return "The GPU ran out of memory for this request; try a smaller image."
    return f"Something went wrong while drawing ({err.__class__.__name__}: {text})"
