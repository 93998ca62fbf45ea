"""The progress bar on stderr: tqdm when it is installed and stderr is a terminal, else none."""

from __future__ import annotations

from typing import IO, Protocol


class Bar(Protocol):
    total: float | None

    def update(self, n: int = 1) -> object: ...
    def refresh(self) -> object: ...
    def close(self) -> None: ...


class _NoBar:
    total: float | None = None

    def update(self, n: int = 1) -> object:
        return None

    def refresh(self) -> object:
        return None

    def close(self) -> None:
        return None


def progress_bar(total: int | None, unit: str, stream: IO[str], force: bool = False) -> Bar:
    """A tqdm bar counting `unit` (a plural: "personas") on `stream` when it is a terminal
    (or `force`), else a silent stand-in: `3000 personas [00:02, 1500 personas/s]`.

    tqdm over rich: one small dependency-free package, cheap per update, and optional
    (`pip install "tavus-async[cli]"`); without it the CLI simply shows no bar.
    """
    if not (force or stream.isatty()):
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    bar: Bar = tqdm(total=total, unit=f" {unit}", file=stream, mininterval=0.2)
    return bar


def set_total(bar: Bar, total: int | None) -> None:
    """Give the bar the total the server announced (`total_count`), once it is known."""
    if total is not None and bar.total != total:
        bar.total = total
        bar.refresh()
