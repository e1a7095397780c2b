"""``rnncalc diagram``: golden files, well-formed self-contained SVG that renders, Mermaid that
parses, and every number on the picture checked against the real frameworks."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SVG_NS = "{http://www.w3.org/2000/svg}"
MERMAID_DIR = Path(__file__).parent / "mermaid"

CASES: dict[str, tuple[str, ...]] = {
    "rnn_bi_2layer": ("-c", "rnn", "-i", "5", "-H", "8", "--bi", "-l", "2"),
    "lstm_return_state": ("-c", "lstm", "-i", "5", "-H", "8", "--return-state", "-b", "3", "-t", "10"),
    "gru_formula_in_i": ("-c", "gru", "-H", "4"),
    "lstm_proj_keras_not_expressible": ("-c", "lstm", "-i", "10", "-H", "6", "--proj-size", "3"),
    "sentiment_model": ("examples/sentiment.yaml",),
    "rnn_bi_unrolled": ("-c", "rnn", "-i", "5", "-H", "8", "--bi", "--unroll", "3"),
    "lstm_2layer_unrolled": ("-c", "lstm", "-i", "5", "-H", "8", "-l", "2", "--unroll", "4"),
}
ROOT = Path(__file__).parent.parent


def _diagram(run_cli: Callable[..., Any], *args: str, fmt: str = "svg") -> str:
    resolved = [str(ROOT / arg) if arg.endswith(".yaml") else arg for arg in args]
    result = run_cli("diagram", *resolved, "--format", fmt)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    return str(result.stdout)


def _texts(svg: str) -> list[str]:
    return [element.text or "" for element in ET.fromstring(svg).iter(f"{SVG_NS}text")]


@pytest.mark.parametrize("fmt", ["svg", "mermaid"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_diagram_output_matches_golden_file(
    run_cli: Callable[..., Any], golden: Callable[[str, str], None], case: str, fmt: str
) -> None:
    extension = "svg" if fmt == "svg" else "mmd"
    golden(f"diagram/{case}.{extension}", _diagram(run_cli, *CASES[case], fmt=fmt))


@pytest.mark.parametrize("case", sorted(CASES))
def test_svg_is_well_formed_and_self_contained(run_cli: Callable[..., Any], case: str) -> None:
    svg = _diagram(run_cli, *CASES[case])
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG_NS}svg"
    tags = {element.tag.removeprefix(SVG_NS) for element in root.iter()}
    assert not tags & {"script", "style", "image", "foreignObject", "use", "a"}
    assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert all(ref.startswith("#") for ref in re.findall(r"url\(([^)]*)\)", svg))
    assert 'font-family="DejaVu Sans, Arial, sans-serif"' in svg


def test_the_same_spec_gives_the_same_bytes(run_cli: Callable[..., Any]) -> None:
    first = _diagram(run_cli, *CASES["lstm_2layer_unrolled"])
    assert _diagram(run_cli, *CASES["lstm_2layer_unrolled"]) == first


def test_text_is_escaped_in_svg_and_mermaid(tmp_path: Path, run_cli: Callable[..., Any]) -> None:
    config = tmp_path / "odd.yaml"
    config.write_text(
        'name: "a<b & \\"c\\""\nlayers:\n  - {cell: rnn, hidden_size: 4, input_size: 3}\n'
        "dense:\n  - {units: 2}\n"
    )
    svg = _diagram(run_cli, str(config))
    assert 'a<b & "c"' in _texts(svg)
    mermaid = _diagram(run_cli, str(config), fmt="mermaid")
    body = "\n".join(mermaid.splitlines()[1:]).replace("<br/>", "")
    assert "<" not in body  # labels use Mermaid's entity codes


def test_svg_renders_to_a_non_blank_image_with_cairosvg(run_cli: Callable[..., Any]) -> None:
    cairosvg = pytest.importorskip("cairosvg")
    from PIL import Image

    svg = _diagram(run_cli, *CASES["rnn_bi_2layer"])
    png = cairosvg.svg2png(bytestring=svg.encode())
    image = Image.open(io.BytesIO(png)).convert("L")
    root = ET.fromstring(svg)
    assert image.size == (round(float(root.get("width", 0))), round(float(root.get("height", 0))))
    dark = sum(image.histogram()[:128])
    assert dark > 0.01 * image.size[0] * image.size[1]  # text and lines drawn, not a blank page


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="no Chromium at /usr/bin/chromium")
def test_svg_renders_in_a_headless_browser(run_cli: Callable[..., Any], tmp_path: Path) -> None:
    from PIL import Image

    page = tmp_path / "diagram.svg"
    page.write_text(_diagram(run_cli, *CASES["rnn_bi_2layer"]))
    shot = tmp_path / "shot.png"
    subprocess.run(
        ["/usr/bin/chromium", "--headless", "--no-sandbox", f"--screenshot={shot}", page.as_uri()],
        check=True,
        capture_output=True,
        timeout=60,
    )
    image = Image.open(shot).convert("L")
    assert sum(image.histogram()[:128]) > 0


# --- every number on the picture, against the real frameworks ------------------------------------


def test_stack_view_shows_pytorchs_real_weight_shapes_counts_and_returned_shapes(
    run_cli: Callable[..., Any],
) -> None:
    torch = pytest.importorskip("torch")
    model = torch.nn.RNN(5, 8, num_layers=2, bidirectional=True)
    output, h_n = model(torch.zeros(10, 3, 5))
    texts = _texts(
        _diagram(run_cli, "-c", "rnn", "-i", "5", "-H", "8", "--bi", "-l", "2", "-b", "3", "-t", "10")
    )
    rows = {(texts[i], texts[i + 1], texts[i + 2]) for i in range(len(texts) - 2)}
    for name, parameter in model.named_parameters():
        shape = "(" + ", ".join(str(d) for d in parameter.shape) + ("," if parameter.dim() == 1 else "") + ")"
        assert (name, shape, f"{parameter.numel():,}") in rows
    total = sum(p.numel() for p in model.parameters())
    assert f"{total:,} parameters" in texts
    for tensor in (output, h_n):
        assert "(" + ", ".join(str(d) for d in tensor.shape) + ")" in texts
    assert "(10, 3, 5)" in texts  # the input, in PyTorch's (L, N, I) layout


def test_stack_view_shows_the_course_keras_numbers_measured_by_keras(run_cli: Callable[..., Any]) -> None:
    keras = pytest.importorskip("keras")
    inputs = keras.Input((10, 5))
    x = inputs
    for _ in range(4):
        x = keras.layers.Bidirectional(keras.layers.SimpleRNN(8, return_sequences=True))(x)
    model = keras.Model(inputs, x)
    counts = [layer.count_params() for layer in model.layers[1:]]
    assert counts == [224, 400, 400, 400]  # the course's numbers
    svg = _diagram(
        run_cli, "-c", "rnn", "-i", "5", "-H", "8", "--bi", "-l", "4", "-t", "10", "--return-sequences"
    )
    texts = _texts(svg)
    keras_panel = "".join(texts[texts.index(next(t for t in texts if t.startswith("keras: "))) :])
    assert f"{model.count_params():,} parameters" in keras_panel  # 1,424
    for layer, count in zip(model.layers[1:], counts, strict=True):
        assert f"· {count:,} params" in keras_panel
        assert "(None, " + ", ".join(str(d) for d in layer.output.shape[1:]) + ")" in keras_panel


def test_unrolled_view_shapes_are_the_per_step_shapes_of_a_real_lstm_cell(
    run_cli: Callable[..., Any],
) -> None:
    torch = pytest.importorskip("torch")
    cell = torch.nn.LSTMCell(5, 8)
    h, c = cell(torch.zeros(3, 5))
    texts = _texts(_diagram(run_cli, "-c", "lstm", "-i", "5", "-H", "8", "-b", "3", "--unroll", "3"))
    assert "(3, 5)" in texts
    for step in range(3):
        assert f"h_{step} ({h.shape[0]}, {h.shape[1]})" in texts
        assert f"c_{step} ({c.shape[0]}, {c.shape[1]})" in texts
    for name, parameter in cell.named_parameters():
        assert f"{parameter.numel():,}" in texts, name


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
def test_unrolled_projected_lstm_carries_h_of_the_projection_and_c_of_the_hidden_size(
    run_cli: Callable[..., Any],
) -> None:
    torch = pytest.importorskip("torch")
    _, (h_n, c_n) = torch.nn.LSTM(3, 4, proj_size=2)(torch.zeros(2, 5, 3))
    texts = _texts(
        _diagram(run_cli, "-c", "lstm", "-i", "3", "-H", "4", "--proj-size", "2", "-b", "5", "--unroll", "2")
    )
    assert f"h_1 ({h_n.shape[1]}, {h_n.shape[2]})" in texts  # (5, 2)
    assert f"c_1 ({c_n.shape[1]}, {c_n.shape[2]})" in texts  # (5, 4)


def test_unrolled_model_splits_a_multi_layer_block_into_rows_reading_the_real_input_widths(
    run_cli: Callable[..., Any],
) -> None:
    torch = pytest.importorskip("torch")
    gru = torch.nn.GRU(256, 256, num_layers=2, bidirectional=True, batch_first=True)
    second_layer_input = gru.weight_ih_l1.shape[1]  # 512: both directions of the first layer
    texts = _texts(_diagram(run_cli, "examples/seq2seq_encoder.yaml", "--unroll", "2"))
    torch_part = texts[: texts.index(next(t for t in texts if t.startswith("keras: ")))]
    assert texts.count("t = 1") == 2 * 2 * 2  # frameworks × stacked layers × directions
    assert torch_part.count(f"(None, {second_layer_input})") == 2 * 2  # steps × directions of layer 1
    assert sum(text.startswith("weight_ih_l1") for text in torch_part) == 2  # its own rows' weights


# --- structure ------------------------------------------------------------------------------------


def test_unrolled_view_draws_a_cell_per_step_layer_and_direction_in_each_framework(
    run_cli: Callable[..., Any],
) -> None:
    texts = _texts(_diagram(run_cli, "-c", "gru", "-i", "5", "-H", "8", "-l", "2", "--bi", "--unroll", "5"))
    frameworks, layers, directions, steps = 2, 2, 2, 5
    assert sum(text.startswith("t = ") for text in texts) == frameworks * layers * directions * steps
    assert not any(text.startswith("c_") for text in texts)  # a GRU has no cell state


def test_unrolled_view_stops_at_a_known_sequence_length(run_cli: Callable[..., Any]) -> None:
    texts = _texts(_diagram(run_cli, "-c", "rnn", "-i", "5", "-H", "8", "-t", "2", "--unroll", "6"))
    assert sum(text.startswith("t = ") for text in texts) == 2 * 2


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (("-c", "rnn", "-H", "8", "--unroll", "9"), "--unroll"),
        (("-c", "rnn", "-H", "8", "-f", "png"), "--format"),
        (("-c", "rnn"), "--hidden"),
    ],
)
def test_bad_input_is_one_line_naming_the_flag(
    run_cli: Callable[..., Any], args: tuple[str, ...], flag: str
) -> None:
    result = run_cli("diagram", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and flag in result.stderr


def test_a_file_of_several_models_is_refused(run_cli: Callable[..., Any], tmp_path: Path) -> None:
    config = tmp_path / "two.jsonl"
    config.write_text('{"cell": "rnn", "hidden_size": 4}\n{"cell": "gru", "hidden_size": 4}\n')
    result = run_cli("diagram", str(config))
    assert result.exit_code == 2 and "one model" in result.stderr and "2" in result.stderr


def _mermaid_edges(text: str) -> list[tuple[str, str, str]]:
    return re.findall(r'^\s*(\w+) (?:-->|==>)\|"([^"]*)"\| (\w+)$', text, flags=re.M)


def test_mermaid_has_an_arrow_labelled_with_each_returned_shape_and_balanced_groups(
    run_cli: Callable[..., Any],
) -> None:
    text = _diagram(run_cli, "-c", "lstm", "-i", "5", "-H", "8", "--bi", "--return-state", fmt="mermaid")
    lines = text.splitlines()
    assert lines[1] == "flowchart TB"
    assert sum(line.strip().startswith("subgraph ") for line in lines) == sum(
        line.strip() == "end" for line in lines
    )
    labels = {label for _, label, _ in _mermaid_edges(text)}
    assert {"(None, None, 16)", "(2, None, 8)"} <= labels  # PyTorch's output and h_n/c_n
    assert {"(None, 16)", "(None, 8)"} <= labels  # Keras's output and its four states
    defined = set(re.findall(r"^\s*(\w+)(?:\[|\(|\{)", text, flags=re.M)) - {"subgraph"}
    for source, _, target in _mermaid_edges(text):
        assert source in defined and target in defined


@pytest.mark.skipif(
    shutil.which("node") is None or not (MERMAID_DIR / "node_modules" / "mermaid").exists(),
    reason="needs node and `npm install --prefix tests/mermaid`",
)
def test_mermaid_output_parses_with_mermaids_own_parser(run_cli: Callable[..., Any], tmp_path: Path) -> None:
    files = []
    for case, args in sorted(CASES.items()):
        path = tmp_path / f"{case}.mmd"
        path.write_text(_diagram(run_cli, *args, fmt="mermaid"))
        files.append(str(path))
    proc = subprocess.run(
        ["node", str(MERMAID_DIR / "parse.mjs"), *files], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("ok ") == len(files)
