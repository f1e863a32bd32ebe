"""Run the blocks of a large image, or the files of a folder, on a Dask cluster.

Imported only when ``--dask`` or ``--workers`` is given: nothing else in
MedSeg imports Dask. Every task is a plain function of
:mod:`medseg_core.large.tasks` (or :func:`segment_file_task`); each worker
process opens the image and loads the model once and keeps them for its
next tasks. Pixels travel through files, so the work folder and the output
folder must be on a file system all workers see (one machine, or a shared
disk). A task that fails, or whose worker dies more often than Dask allows
(``distributed.scheduler.allowed-failures``), is reported with its block;
the blocks already stored stay, and running again redoes only the others.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import InputError
from .executor import describe_error


class DaskExecutor:
    """Map tasks over a :class:`distributed.Client`; outcomes come as tasks finish.

    Parameters
    ----------
    client : distributed.Client
        A connected client.
    """

    remote = True

    def __init__(self, client: Any) -> None:
        self.client = client
        self._futures: list = []

    def map(self, fn: Callable[..., Any], args: Sequence[tuple]) -> Iterator[tuple[int, Any, str | None]]:
        """Submit ``fn(*a)`` for every ``a``; yield ``(position, result, error)`` as each finishes."""
        from distributed import as_completed  # noqa: PLC0415

        if not args:
            return
        run = uuid.uuid4().hex[:8]
        futures = [
            self.client.submit(fn, *a, key=f"medseg-{fn.__name__}-{i}-{run}", pure=False, retries=0)
            for i, a in enumerate(args)
        ]
        self._futures = futures
        position = {f.key: i for i, f in enumerate(futures)}
        for future in as_completed(futures):
            i = position[future.key]
            if future.status == "finished":
                yield i, future.result(), None
            else:
                try:
                    error = future.exception()
                except Exception as exc:  # noqa: BLE001 (a cancelled or lost future)
                    error = exc
                yield i, None, describe_error(error) if error is not None else "task was cancelled"
            future.release()
        self._futures = []

    def cancel(self) -> None:
        """Cancel the tasks still waiting or running."""
        if self._futures:
            self.client.cancel(self._futures)
            self._futures = []


@contextmanager
def dask_executor(address: str | None = None, workers: int | None = None) -> Iterator[DaskExecutor]:
    """A :class:`DaskExecutor` on a running scheduler, or on a local cluster started and stopped here.

    Parameters
    ----------
    address : str, optional
        Scheduler address (``tcp://host:8786``); connects to that cluster.
    workers : int, optional
        Without ``address``: start a ``LocalCluster`` of this many worker
        processes (one thread each) on the loopback interface.

    Raises
    ------
    InputError
        Neither given, or Dask is not installed (``pip install medseg[scale]``).
    """
    try:
        from distributed import Client, LocalCluster  # noqa: PLC0415
    except ImportError:
        raise InputError("running on a Dask cluster needs dask.distributed: pip install 'medseg[scale]'") from None
    if address:
        client = Client(address)
        try:
            yield DaskExecutor(client)
        finally:
            client.close()
        return
    if not workers:
        raise InputError("give a scheduler address (--dask) or a number of local workers (--workers)")
    with LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster, Client(cluster) as client:
        yield DaskExecutor(client)


def segment_file_task(path: Path, plan: Any, model: str, device: str, channel: int | None, options: dict):
    """Segment one ordinary-sized file on a worker, as ``medseg segment`` does; returns its ``FileOutcome``."""
    from ..batch import _segment_file  # noqa: PLC0415 (the one per-file routine of medseg segment)
    from .tasks import Job, model_for  # noqa: PLC0415

    job = Job(image=str(path), model=model, device=device, options={}, levels=None, blocks_folder="", labels_zarr="")
    return _segment_file(Path(path), plan, model_for(job), None, channel, options)
