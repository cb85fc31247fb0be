"""Run ``edgetwin`` in-process with the ops sub-commands registered, as the CLI will once
they are listed in ``gateway.cli.COMMAND_MODULES`` (added here if not yet)."""

from __future__ import annotations

import pytest

from gateway import cli

OPS_MODULES = ("gateway.commands.doctor", "gateway.commands.devices", "gateway.commands.buffer")


def edgetwin(monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    modules = tuple(dict.fromkeys((*cli.COMMAND_MODULES, *OPS_MODULES)))
    monkeypatch.setattr(cli, "COMMAND_MODULES", modules)
    return cli.main(list(argv))
