"""docs/convert.md's "Whole models" shows real output: each ```console block's
``$ rnncalc convert ...`` prints what follows it (notes on stderr first, as a terminal shows
them), for the tagger built here as the page says; the largest difference may differ in its
last digits from one machine's float rounding to another's, and is checked against atol."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

DOC = Path(__file__).parent.parent / "docs" / "convert.md"
BLOCK = re.compile(r"```console\n\$ rnncalc (convert .*?)\n(.*?)```", re.S)
DIFFERENCE = re.compile(r"\|difference\| (\S+) \(atol 1e-05\)")

torch = pytest.importorskip("torch")
pytest.importorskip("rnncalc.frameworks.keras")


def whole_model_blocks() -> list[tuple[str, str]]:
    text = DOC.read_text()
    section = text[text.index("## Whole models") : text.index("## What it does to the weights")]
    return BLOCK.findall(section)


def test_docs_convert_whole_model_blocks_are_the_commands_real_output(
    tmp_path: Path, run_cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    nn = torch.nn
    torch.manual_seed(0)
    tagger = nn.ModuleDict(
        {
            "embed": nn.Embedding(10000, 128),
            "encoder": nn.LSTM(128, 256, num_layers=2, bidirectional=True, batch_first=True),
            "head": nn.Linear(512, 17),
        }
    )
    torch.save(tagger.state_dict(), tmp_path / "tagger.pt")
    config = run_cli("inspect", "tagger.pt", "-f", "yaml")
    assert config.exit_code == 0, config.stderr
    head = "  - {kind: dense, units: 17, bias: true}\n"
    assert head in config.stdout
    edited = head.replace("}", ", activation: softmax, per_step: true}")
    (tmp_path / "tagger.yaml").write_text(config.stdout.replace(head, edited))
    blocks = whole_model_blocks()
    assert len(blocks) == 2
    for command, shown in blocks:
        result = run_cli(*shlex.split(command))
        assert result.exit_code == 0, result.stderr
        output = result.stderr + result.stdout
        for found in DIFFERENCE.findall(output):
            assert float(found) <= 1e-5
        assert DIFFERENCE.sub("|difference| D (atol 1e-05)", output) == DIFFERENCE.sub(
            "|difference| D (atol 1e-05)", shown
        )
