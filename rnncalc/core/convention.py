"""What every framework module must provide, analytically: the contract behind the registry.

Each module in :mod:`rnncalc.frameworks` defines one convention and an instance of it;
:mod:`rnncalc.frameworks` lists the instances in a fixed order (the registry). The calculator,
the renderers and every command iterate over the registry and never name a framework: adding a
framework is one module plus its tests.

This class holds the **analytic** half (``unsupported``, ``report``, ``totals``,
``model_report``, ``snippet``, ``model_snippet``, ``explain_notes``, ``bias_note``): pure
functions of the spec, importing nothing but :mod:`rnncalc.core`, so ``rnncalc summary`` stays
instant and the core stays the ground. The half that touches the real framework, weight values
and files (adapter, weights, files) is :class:`rnncalc.frameworks.contract.FrameworkConvention`, one floor up.
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from rnncalc.core.model import Model
    from rnncalc.core.report import FrameworkReport, FrameworkTotals, WeightRow
    from rnncalc.core.spec import Cell, Spec


class Convention(ABC):
    """One framework's conventions for recurrent layers, as pure functions of the spec."""

    #: Registry key, JSON key under ``frameworks`` and the value of ``-F``/``--against``.
    name: ClassVar[str]
    #: How people name it in tables and prose: "PyTorch", "Keras 3", "Flax NNX", "ONNX".
    title: ClassVar[str]
    #: The importable module whose presence means "installed" (checked without importing it).
    module: ClassVar[str]
    #: One line telling how to install what :meth:`measure` needs.
    install_hint: ClassVar[str]
    #: Part of the default ``-F`` set shown to people (PyTorch and Keras).
    shown_by_default: ClassVar[bool] = False
    #: Builds a model without allocating its weights (PyTorch's meta device), so ``check`` can
    #: cross-check a model larger than ``--max-memory``; ``measure(device="meta")`` then works.
    meta_device: ClassVar[bool] = False
    #: Stores weight matrices as ``(in, out)``, the transpose of the ``W x`` orientation
    #: (Keras, Flax); ``explain`` then writes ``W_x^T`` and reads input sizes from rows.
    kernels_transposed: ClassVar[bool] = False
    #: Its default CPU path runs LSTM without projection through oneDNN (PyTorch), which saves a
    #: workspace for backward instead of per-step tensors: ``rnncalc cost`` adds those lines.
    onednn_lstm: ClassVar[bool] = False
    #: Runs only each sample's real steps of a padded batch (PyTorch's packed sequences), so
    #: ``cost --lengths`` counts ``sum(lengths)`` steps; otherwise (a Keras mask, measured) the
    #: cell still runs on every sample at every padded step.
    skips_padding: ClassVar[bool] = False
    #: The module (``rnncalc.frameworks.<name>_files``) holding what this convention knows of its
    #: files: ``weight_formats()`` and ``find_layers()`` for ``inspect``, ``tensor_formats()`` for
    #: ``convert``. Imported only when a file is read or written; None: no files.
    files_module: ClassVar[str | None] = None
    #: Gate blocks in the order the framework stacks them, in its own gate names.
    gate_order: ClassVar[Mapping[Cell, tuple[str, ...]]]
    #: The framework's gate name → the canonical (PyTorch) one, where they differ.
    gate_aliases: ClassVar[Mapping[Cell, Mapping[str, str]]] = {}

    @property
    def short_title(self) -> str:
        """The name in running prose ("Keras" where the title says "Keras 3"); the title unless
        a convention overrides it."""
        return self.title

    def is_installed(self) -> bool:
        """True when :attr:`module` can be imported (asked of importlib, not imported)."""
        try:
            return importlib.util.find_spec(self.module) is not None
        except (ImportError, ValueError):
            return False

    # --- analytic -----------------------------------------------------------------------

    @abstractmethod
    def unsupported(self, spec: Spec) -> str | None:
        """Why this framework cannot express ``spec`` (one sentence), or None."""

    @abstractmethod
    def report(self, spec: Spec) -> FrameworkReport:
        """Weights (names, shapes, roles, directions), output shapes and model name for ``spec``;
        a report with ``reason`` set when :meth:`unsupported` says so."""

    @abstractmethod
    def totals(self, spec: Spec) -> FrameworkTotals:
        """The report's total, outputs and model name without building weight rows (the fast
        path of ``check --against none``); must equal :meth:`report`'s."""

    @abstractmethod
    def model_report(self, model: Model) -> FrameworkReport:
        """A heterogeneous model (embedding, recurrent blocks, dense heads) in this framework."""

    def bias_count(self, spec: Spec) -> int:
        """How many ``gates*H`` bias vectors one direction of a layer keeps. The default counts
        them in :meth:`report`'s first layer; override it where the rows do not say (ONNX's
        bidirectional ``B`` belongs to no single direction)."""
        from rnncalc.core.calc import bias_vectors

        report = self.report(spec)
        return bias_vectors(report, spec) if report.supported else 0

    def bias_note(self, spec: Spec) -> str:
        """A clause on this framework's bias layout for ``spec``, naming the framework, used
        where two totals are compared: "PyTorch keeps two bias vectors per layer and direction
        (bias_ih, bias_hh)". The default words :meth:`bias_count`; override it to name them."""
        from rnncalc.core.calc import vectors

        return f"{self.short_title} keeps {vectors(self.bias_count(spec))} per layer and direction"

    def model_notes(self, model: Model) -> tuple[str, ...]:
        """Clauses ``summary`` adds under a heterogeneous model's tables where this framework
        treats it in a way worth saying (e.g. where its dense heads act); none by default."""
        return ()

    @abstractmethod
    def snippet(self, spec: Spec) -> str:
        """A runnable script that builds the model and prints its weights, outputs and count."""

    @abstractmethod
    def model_snippet(self, model: Model) -> str:
        """A runnable script that builds the whole ``model`` as this framework's adapter builds
        it, its weights named as :meth:`model_report` names them, and prints its weights, output
        shape and count; a comment with the reason where the framework cannot build it."""

    @abstractmethod
    def explain_notes(self, spec: Spec) -> tuple[str, ...]:
        """Paragraphs ``explain`` prints under this framework's table: what its weights hold
        that the table does not say (e.g. PyTorch's two bias vectors acting as one), in the
        framework's own words."""

    def tensor_gate(self, spec: Spec, row: WeightRow) -> str | None:
        """The canonical gate (``i``, ``f``, ``g``, ``o``; ``r``, ``z``, ``n``) whose block
        ``row`` holds alone, or None when the tensor stacks every gate's blocks (the default).
        ``explain`` names a per-gate tensor by its gate (``W_xi``, ``b_i``)."""
        return None

    def explain_extra(self, topic: str, spec: Spec) -> tuple[str, ...]:
        """What this framework adds to one topic of ``explain``; nothing by default. Topics:

        * ``"equations"``: paragraphs after the gate orders, on the cell variant it implements
          (e.g. GRU ``reset_after``; identical paragraphs of two frameworks are shown once);
        * ``"merge"``: a clause on how it merges a bidirectional layer's two outputs for
          ``spec.merge_mode`` ("PyTorch always does");
        * ``"stacking"``: paragraphs on how it stacks ``num_layers`` layers;
        * ``"outputs"``: clauses on the layout of what it returns;
        * ``"difference"``: why it keeps the bias it keeps, when compared with another framework:
          a clause ("PyTorch adds two bias vectors, ... as cuDNN's weight layout does");
        * ``"step"``: paragraphs naming its one-step cell and how its names differ from the
          layer's (``spec.step``).
        """
        return ()

    def explain_sections(self, spec: Spec) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """Whole sections ``explain`` ends with, as (title, paragraphs); none by default."""
        return ()
