"""convert's formats come from the registry (issue 9): each target and destination suffix is
declared by one convention, and a format inspect reads is declared by the convention inspect
finds in it."""

from __future__ import annotations

from collections import Counter

import pytest

from rnncalc import frameworks
from rnncalc.cli.convert import target_choices
from rnncalc.convert.plan import target_for, targets, tensor_formats
from rnncalc.core.errors import SpecError
from rnncalc.inspect.formats import weight_formats


def test_every_destination_suffix_and_target_name_is_declared_by_exactly_one_format() -> None:
    declared = [found for _, found in tensor_formats() if found.target]
    assert declared and all(found.write is not None for found in declared)
    suffixes = Counter(suffix for found in declared for suffix in found.suffixes)
    assert [suffix for suffix, count in suffixes.items() if count > 1] == []
    assert Counter(found.target for found in declared).most_common(1)[0][1] == 1
    assert target_choices() == list(targets())


def test_a_format_inspect_reads_is_converted_by_the_convention_that_reads_it() -> None:
    inspected = {found.name: convention for convention in frameworks.CONVENTIONS
                 for found in convention.weight_formats()}  # fmt: skip
    shared = [(convention, found) for convention, found in tensor_formats() if found.name in inspected]
    assert shared
    assert all(inspected[found.name] is convention for convention, found in shared)


@pytest.mark.parametrize(
    ("suffix", "convention", "target"),
    [(".pt", "torch", "torch"), (".bin", "torch", "torch"), (".safetensors", "torch", "safetensors"),
     (".keras", "keras", "keras"), (".onnx", "onnx", "onnx"), (".msgpack", "flax", "flax")],
)  # fmt: skip
def test_the_destination_suffix_picks_its_target(suffix: str, convention: str, target: str) -> None:
    owner, found = target_for(f"out{suffix.upper()}", None)
    assert (owner.name, found.target) == (convention, target)


def test_an_unknown_destination_suffix_lists_every_writable_suffix() -> None:
    with pytest.raises(SpecError) as raised:
        target_for("out.h5", None)
    assert all(suffix in str(raised.value) for _, found in targets().values() for suffix in found.suffixes)
    assert ".h5" in {suffix for found in weight_formats() for suffix in found.suffixes}
