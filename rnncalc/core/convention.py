"""What every framework module must provide: the contract behind the registry.

Each module in :mod:`rnncalc.frameworks` defines one :class:`Convention` subclass and an
instance of it; :mod:`rnncalc.frameworks` lists the instances in a fixed order (the registry).
The calculator, the renderers and every command iterate over the registry and never name a
framework: adding a framework is one module plus its tests.

Three groups of methods, with different import rules:

* **Analytic** (``unsupported``, ``report``, ``totals``, ``model_report``, ``snippet``,
  ``explain_notes``, ``bias_note``): pure functions of the spec; they import nothing but :mod:`rnncalc.core`
  and :mod:`rnncalc.frameworks.base`, so ``rnncalc summary`` stays instant.
* **Adapter** (``measure``, ``measure_model``, ``run_real``, ``save``): build the real model;
  they import the framework *inside* the method and raise
  :class:`~rnncalc.core.errors.FrameworkMissingError` with :attr:`Convention.install_hint`
  when it is missing.
* **Weights** (``canonical_part``, ``tensor_from_canonical``, ``reference_forward``): convert
  between the framework's named tensors and canonical weights (PyTorch orientation, PyTorch
  gate order, an input and a recurrent bias per direction), one part or one tensor at a time,
  so ``rnncalc convert`` holds one tensor at a time; ``to_canonical``/``from_canonical`` build
  whole :class:`rnncalc.reference.StackWeights` from them. ``reference_forward`` runs the numpy
  reference in the framework's layout. They import numpy inside the method.

One optional group, for ``rnncalc inspect``:

* **Files** (``weight_formats``, ``reads``, ``find_layers``): the weight-file formats whose
  tensors follow the framework's names, and how its recurrent layers are found among them. The
  defaults read no file; a convention that reads some imports its finder inside the method.
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import numpy as np

    from rnncalc.core.model import Model
    from rnncalc.core.report import FrameworkReport, FrameworkTotals, WeightRow
    from rnncalc.core.spec import Cell, Spec
    from rnncalc.frameworks.adapter import Measured
    from rnncalc.inspect.common import Found
    from rnncalc.io.tensor_data import TensorFormat
    from rnncalc.io.tensors import FileContents
    from rnncalc.io.weight_format import WeightFormat
    from rnncalc.reference import Blocks, Part, PartGetter, StackWeights

    Array = np.ndarray[Any, Any]
    Arrays = dict[str, Array]


class Convention(ABC):
    """One framework's conventions for recurrent layers, and the adapter to the real thing."""

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

    def bias_note(self, spec: Spec) -> str:
        """A clause on this framework's bias layout for ``spec``, naming the framework, used
        where two totals are compared: "PyTorch keeps two bias vectors per layer and direction
        (bias_ih, bias_hh)". The default counts the bias vectors of :meth:`report`'s first
        layer; override it to name them or say why."""
        from rnncalc.core.calc import bias_vectors, vectors

        report = self.report(spec)
        count = bias_vectors(report, spec) if report.supported else 0
        return f"{self.short_title} keeps {vectors(count)} per layer and direction"

    def model_notes(self, model: Model) -> tuple[str, ...]:
        """Clauses ``summary`` adds under a heterogeneous model's tables where this framework
        treats it in a way worth saying (e.g. where its dense heads act); none by default."""
        return ()

    @abstractmethod
    def snippet(self, spec: Spec) -> str:
        """A runnable script that builds the model and prints its weights, outputs and count."""

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

    # --- adapter (imports the framework) ---------------------------------------------------

    @abstractmethod
    def measure(self, spec: Spec, *, device: str = "cpu") -> Measured:
        """Build the real model, run one forward pass on zeros and report what it holds."""

    @abstractmethod
    def measure_model(self, model: Model) -> Measured:
        """:meth:`measure` for a heterogeneous model."""

    @abstractmethod
    def run_real(self, spec: Spec, weights: Mapping[str, Any], x: Any) -> Arrays:
        """Run the real model with these named weights (this framework's names and layout) on
        ``x`` (this framework's input layout); returns outputs named as :meth:`report` names
        them."""

    @abstractmethod
    def input_shape(self, spec: Spec) -> tuple[int, ...]:
        """The input tensor's shape in this framework's layout (batch and time known); for a
        step (``spec.step``) one time step's input, e.g. ``(N, I)``."""

    def step_states(self, spec: Spec) -> tuple[tuple[str, tuple[int, ...]], ...]:
        """The initial states one step of a cell (``spec.step``) is called with, named and
        shaped in this framework's layout (``h_0``, and ``c_0`` for LSTM); empty for a layer
        over time or a framework without cells. For a step, :meth:`run_real` and
        :meth:`reference_forward` take ``x`` as a mapping of ``"x"`` and these names."""
        return ()

    # --- weights (imports numpy) ------------------------------------------------------------

    @abstractmethod
    def canonical_part(
        self, spec: Spec, weights: Mapping[str, Any], layer: int, direction: int, part: Part
    ) -> Blocks | None:
        """One part (``w_x``, ``w_h``, ``b_x``, ``b_h``, ``w_hr``) of layer ``layer``'s
        ``direction`` in canonical form, read from this framework's tensors (named as
        :meth:`report` names them) as gate blocks in canonical order, views of the tensors
        where the layout allows; None when the framework holds no such part (no bias, no
        projection). See :mod:`rnncalc.reference`, "Converters"."""

    @abstractmethod
    def tensor_from_canonical(self, spec: Spec, layer: int, row: WeightRow, part: PartGetter) -> Array:
        """This framework's tensor ``row`` of layer ``layer`` (a row of :meth:`report`),
        assembled in one copy from the canonical parts ``part`` gives."""

    def canonical_refusal(self, spec: Spec, layer: int, part: PartGetter) -> str | None:
        """Why layer ``layer``'s canonical weights cannot be held, or None: values this
        framework has no tensor for (a projection without ``proj_size``, nonzero biases
        without ``bias``)."""
        import numpy as np

        for direction in range(spec.num_directions):
            if not spec.proj_size and part(direction, "w_hr") is not None:
                return f"{self.title} has no projection for these weights' W_hr (layer {layer})"
            if not spec.bias:
                biases = (*(part(direction, "b_x") or ()), *(part(direction, "b_h") or ()))
                if any(np.any(block != 0) for block in biases):
                    return f"{self.title} has no bias with bias=False; layer {layer}'s biases are not zero"
        return None

    def canonical_parts(self, spec: Spec, weights: Mapping[str, Any], layer: int) -> PartGetter:
        """:meth:`canonical_part` of layer ``layer`` as a :data:`~rnncalc.reference.PartGetter`:
        a bias this framework does not hold is zeros."""
        import numpy as np

        from rnncalc.core.calc import GATES
        from rnncalc.reference import DTYPE

        def part(direction: int, name: Part) -> Blocks | None:
            blocks = self.canonical_part(spec, weights, layer, direction, name)
            if blocks is None and name in ("b_x", "b_h"):
                return tuple(np.zeros(spec.hidden_size, dtype=DTYPE) for _ in range(GATES[spec.cell]))
            return blocks

        return part

    def to_canonical(self, spec: Spec, weights: Mapping[str, Any]) -> StackWeights:
        """Canonical weights from this framework's named tensors (names as :meth:`report`)."""
        from rnncalc.reference import DirectionWeights, StackWeights, held, joined

        layers = []
        for layer in range(spec.num_layers):
            part = self.canonical_parts(spec, weights, layer)
            directions = []
            for direction in range(spec.num_directions):
                w_x, w_h, b_x, b_h = (held(part, direction, name) for name in ("w_x", "w_h", "b_x", "b_h"))
                w_hr = part(direction, "w_hr")
                directions.append(
                    DirectionWeights(
                        joined(w_x), joined(w_h), joined(b_x), joined(b_h), joined(w_hr) if w_hr else None
                    )
                )
            layers.append(tuple(directions))
        return StackWeights(tuple(layers))

    def from_canonical(self, spec: Spec, weights: StackWeights) -> Arrays:
        """This framework's named tensors from canonical weights. Raises
        :class:`~rnncalc.core.errors.ConversionError` when a value cannot be held (e.g. a
        nonzero recurrent bias where the framework keeps none)."""
        import numpy as np

        from rnncalc.core.calc import GATES
        from rnncalc.core.errors import ConversionError

        named: Arrays = {}
        for index, layer in enumerate(self.report(spec).layers):
            directions = weights.layers[index]

            def part(direction: int, name: Part, directions: Any = directions) -> Blocks | None:
                value = getattr(directions[direction], name)
                if value is None:
                    return None
                return (value,) if name == "w_hr" else tuple(np.split(value, GATES[spec.cell]))

            refusal = self.canonical_refusal(spec, index, part)
            if refusal:
                raise ConversionError(refusal)
            for row in layer.weights:
                named[row.path] = self.tensor_from_canonical(spec, index, row, part)
        return named

    @abstractmethod
    def reference_forward(self, spec: Spec, weights: StackWeights, x: Any) -> Arrays:
        """The numpy reference's outputs for ``x`` in this framework's layout and names."""

    # --- files (optional: ``rnncalc inspect``) -------------------------------------------------

    def _files(self) -> Any:
        """The :attr:`files_module`, imported now (it may import the framework's file code)."""
        import importlib

        return importlib.import_module(self.files_module) if self.files_module else None

    def weight_formats(self) -> tuple[WeightFormat, ...]:
        """The weight-file formats whose tensor names follow this convention, each with its
        suffixes, how to recognise it and its reader in :mod:`rnncalc.io`: the
        :attr:`files_module`'s ``weight_formats()``, or none (the convention reads no file)."""
        files = self._files()
        return tuple(files.weight_formats()) if files and hasattr(files, "weight_formats") else ()

    def reads(self, contents: FileContents) -> bool:
        """True when ``contents`` were read as one of :meth:`weight_formats`."""
        return any(found.name == contents.format for found in self.weight_formats())

    def find_layers(self, file: str, contents: FileContents) -> Found:
        """The recurrent layers among the tensors of ``file`` (which this convention
        :meth:`reads`), each with the spec its names, shapes or config imply, checked against
        what :meth:`report` says the spec holds; see :data:`rnncalc.inspect.common.Found`."""
        files = self._files()
        if files and hasattr(files, "find_layers"):
            found: Found = files.find_layers(file, contents)
            return found
        from rnncalc.io.tensors import WeightFileError

        raise WeightFileError(file, f"{self.title} reads no weight file")

    # --- tensor values (optional: ``rnncalc convert``) -----------------------------------------

    def tensor_formats(self) -> tuple[TensorFormat, ...]:
        """The formats ``rnncalc convert`` reads this convention's tensor values from and writes
        them to, each with its opener and writer (see :class:`~rnncalc.io.tensor_data.TensorFormat`).
        The :attr:`files_module`'s ``tensor_formats()``, or none: convert neither reads nor
        writes this convention's files."""
        files = self._files()
        return tuple(files.tensor_formats()) if files and hasattr(files, "tensor_formats") else ()
