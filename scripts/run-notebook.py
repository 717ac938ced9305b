#!/usr/bin/env python3
"""Executes a Jupyter notebook headless and fails on the first cell that raises.

    .venv/bin/python scripts/run-notebook.py examples/audit_analysis.ipynb [more.ipynb ...]

Each notebook runs in a fresh kernel, with the notebook's own directory as the working directory and at most
120 s per cell. The kernel is this interpreter (``sys.executable -m ipykernel_launcher``), whatever ``python3``
kernelspec is installed (or none), so the notebook sees exactly the packages of the running venv. The notebook file
is only read: it is executed as a copy in memory and its outputs are never written back. Exits 1 with the failing
cell's source and error when a notebook fails.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CELL_TIMEOUT = 120
KERNEL_NAME = "python3"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _plain(text: str) -> str:
    """``text`` without the ANSI colour codes of an IPython traceback."""
    return ANSI.sub("", text)


def _kernel_manager(runtime: str) -> Any:
    """A kernel manager that launches ``python3`` as this interpreter's ipykernel, connected by IPC sockets in the
    directory ``runtime``."""
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager, NoSuchKernel
    from jupyter_client.manager import AsyncKernelManager

    spec = KernelSpec(
        argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        display_name="Python 3 (ipykernel)",
        language="python",
        metadata={"debugger": False},
    )

    class ThisInterpreter(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            if kernel_name != KERNEL_NAME:
                raise NoSuchKernel(kernel_name)
            return spec

    if os.name != "posix":  # no IPC sockets: TCP on localhost
        return AsyncKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=ThisInterpreter())
    # IPC sockets (absolute paths: the kernel runs in the notebook's directory) rather than TCP on localhost: no port
    # to race for, nothing listening on the network.
    return AsyncKernelManager(
        kernel_name=KERNEL_NAME,
        kernel_spec_manager=ThisInterpreter(),
        transport="ipc",
        ip=os.path.join(runtime, "kernel"),
    )


def run(path: Path, runtime: str) -> bool:
    """Executes the notebook at ``path``; prints the outcome and returns True when every cell ran."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name=KERNEL_NAME,
        km=_kernel_manager(runtime),
        resources={"metadata": {"path": str(path.parent.resolve())}},
        allow_errors=False,
        record_timing=False,
    )
    started = time.monotonic()
    try:
        # cleanup_kc: shut the kernel down afterwards, which nbclient does not do for a kernel manager it was given.
        client.execute(cleanup_kc=True)
    except CellExecutionError as e:
        # The message holds the cell's source and the traceback.
        print(f"{path}: a cell failed:\n{_plain(str(e))}", file=sys.stderr)
        return False
    except CellTimeoutError as e:
        print(f"{path}: a cell ran longer than {CELL_TIMEOUT} s:\n{e}", file=sys.stderr)
        return False
    except DeadKernelError as e:
        print(f"{path}: the kernel died: {e}", file=sys.stderr)
        return False
    except Exception as e:  # the kernel did not start, the notebook is invalid, ...
        print(f"{path}: cannot run: {type(e).__name__}: {e}", file=sys.stderr)
        return False
    cells = sum(1 for cell in nb.cells if cell.cell_type == "code")
    print(f"{path}: {cells} code cells ran in {time.monotonic() - started:.1f} s")
    return True


def main(argv: list[str]) -> int:
    if not argv or any(a.startswith("-") for a in argv):
        print(__doc__, file=sys.stderr)
        return 2
    missing = [a for a in argv if not Path(a).is_file()]
    if missing:
        print(f"no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        import ipykernel  # noqa: F401  (the kernel runs this interpreter's ipykernel)
        import nbclient  # noqa: F401
        import nbformat  # noqa: F401
    except ImportError as e:
        print(f"{e.name} is missing from {sys.executable}: pip install nbclient nbformat ipykernel", file=sys.stderr)
        return 2
    # Connection files go to a private temporary directory, so that a machine without a writable Jupyter runtime
    # directory (or a fresh HOME) works too.
    with tempfile.TemporaryDirectory(prefix="run-notebook-") as runtime:
        os.environ["JUPYTER_RUNTIME_DIR"] = runtime
        failed = [a for a in argv if not run(Path(a), runtime)]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
