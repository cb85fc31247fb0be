"""What every fuzz harness shares: instrumentation, input splitting, invariants, entry point.

A harness module ``fuzz/fuzz_<target>.py`` defines ``decode(data: bytes) -> list[object]``
(what the target made of ``data``: parsed values, and the documented errors as values) and
``fuzz_one(data: bytes) -> None``, which runs ``decode`` and lets through only exceptions the
target does not document (and ``AssertionError`` for a broken invariant, e.g. a deframer
buffer over its bound). ``fuzz_one`` serves atheris (``python fuzz/fuzz_<target>.py
-atheris_runs=N``) and the regression tests, which replay the seed corpus and every kept
crasher without atheris; seeds named ``valid-*`` must decode to values and no error.

Without atheris installed, ``python fuzz/fuzz_<target>.py FILE...`` replays the files.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from gateway.errors import ParseError
from gateway.model import ReceiveTime

FUZZ_DIR = Path(__file__).resolve().parent
CORPUS_DIR = FUZZ_DIR / "corpus"
CRASHERS_DIR = FUZZ_DIR / "crashers"
#: A fixed receive time: targets are pure and the harness has no clock.
RECEIVED = ReceiveTime(wall_ns=1_700_000_000_000_000_000, mono_ns=1_000_000_000)
#: Packages whose bytecode atheris instruments for coverage feedback.
INSTRUMENTED = ["drivers", "gateway"]

FuzzOne = Callable[[bytes], None]


class Feedable(Protocol):
    """A streaming decoder as the serial session sees it."""

    def feed(self, data: bytes) -> Sequence[object]: ...

    @property
    def pending(self) -> int: ...


def instrumented(active: bool) -> contextlib.AbstractContextManager[Any]:
    """Instrument imports made inside the block, when fuzzing (``active``) and atheris exists."""
    atheris = _atheris() if active else None
    if atheris is None:
        return contextlib.nullcontext()
    manager: contextlib.AbstractContextManager[Any] = atheris.instrument_imports(
        include=INSTRUMENTED
    )
    return manager


def _atheris() -> Any:
    """The atheris module, or None where it is not installed (it ships no type hints)."""
    try:
        return importlib.import_module("atheris")
    except ImportError:
        return None


def split(data: bytes) -> list[bytes]:
    """Cut ``data[1:]`` into the chunks a serial port might deliver, chosen by ``data[0]``.

    Bit 7 set: one chunk. Otherwise chunks of ``(data[0] & 0x7F) + 1`` bytes, so frames
    straddle ``feed`` calls at every possible point.
    """
    if not data:
        return []
    head, body = data[0], data[1:]
    if head & 0x80 or not body:
        return [body] if body else []
    size = (head & 0x7F) + 1
    return [body[i : i + size] for i in range(0, len(body), size)]


def feed_all(
    decoder: Feedable, chunks: Sequence[bytes], good: type | tuple[type, ...], bound: int
) -> list[object]:
    """Feed every chunk; check each item is ``good`` or a ParseError and ``pending <= bound``."""
    goods = (ParseError, *(good if isinstance(good, tuple) else (good,)))
    out: list[object] = []
    for chunk in chunks:
        items = decoder.feed(chunk)
        for item in items:
            assert isinstance(item, goods), f"unexpected item {type(item).__name__}"
        assert decoder.pending <= bound, f"pending {decoder.pending} bytes > bound {bound}"
        out.extend(items)
    return out


def parsed(items: Sequence[object]) -> Iterator[object]:
    """The items that are not errors."""
    return (item for item in items if not isinstance(item, ParseError))


def main(fuzz_one: FuzzOne, argv: list[str] | None = None) -> None:
    """Fuzz ``fuzz_one`` with atheris (libFuzzer flags in ``argv``), or replay files without it."""
    args = list(sys.argv if argv is None else argv)
    atheris = _atheris()
    if atheris is None:
        files = [a for a in args[1:] if not a.startswith("-")]
        if not files:
            sys.exit("atheris is not installed: pass input files to replay them instead")
        for name in files:
            fuzz_one(Path(name).read_bytes())
        print(f"replayed {len(files)} input(s) without atheris: no crash")
        return
    atheris.Setup(args, fuzz_one)
    atheris.Fuzz()
