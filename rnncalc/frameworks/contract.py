"""The framework half of a convention: the adapter to the real framework, weight values and files.

:class:`FrameworkConvention` extends the analytic :class:`~rnncalc.core.convention.Convention`
with three groups of methods, each with its own import rule:

* **Adapter** (``measure``, ``measure_model``, ``run_real``, ``input_shape``): build the real
  model; they import the framework *inside* the method and raise
  :class:`~rnncalc.core.errors.FrameworkMissingError` with :attr:`Convention.install_hint`
  when it is missing.
* **Weights** (``canonical_part``, ``tensor_from_canonical``, ``reference_forward``): convert
  between the framework's named tensors and canonical weights (PyTorch orientation, PyTorch
  gate order, an input and a recurrent bias per direction), one part or one tensor at a time,
  so ``rnncalc convert`` holds one tensor at a time; ``to_canonical``/``from_canonical`` build
  whole :class:`rnncalc.reference.StackWeights` from them. They import numpy inside the method.
* **Whole models** (``parts``, ``model_batch_first``, ``model_last_step``, ``run_model_real``;
  ``part_canonical``, ``part_tensor_from_canonical``, ``model_to_canonical``,
  ``model_from_canonical``): the same for a chain of parts. A part other than a recurrent block
  converts by its :attr:`parts` layout's ``canonical`` column (a tensor renamed, or transposed),
  a recurrent block by the methods above, its rows renamed from :meth:`report`'s to
  :meth:`model_report`'s; :class:`rnncalc.reference_parts.ModelWeights` holds the result.
* **Files** (optional: ``weight_formats``, ``reads``, ``find_layers``, ``tensor_formats``): the
  weight-file formats whose tensors follow the framework's names, how its recurrent layers are
  found among them, and what ``convert`` reads and writes. The defaults read no file; a
  convention that reads some imports its :attr:`~Convention.files_module` inside the method.
* **Live objects** (optional: ``object_packages``, ``read_object``): the framework's models in
  memory (``rnncalc.inspect(module)``), recognised by the packages their classes come from, so
  that nothing is imported to tell them apart (einops' ``_backends.py``), and read in place.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from rnncalc.core.convention import Convention

if TYPE_CHECKING:
    import numpy as np

    from rnncalc.core.model import Dense, Dropout, Embedding, LayerNorm, Model
    from rnncalc.core.model import Part as ModelPart
    from rnncalc.core.parts import PartKind
    from rnncalc.core.report import WeightRow
    from rnncalc.core.spec import Spec
    from rnncalc.frameworks.adapter import Measured
    from rnncalc.frameworks.base import PartLayout
    from rnncalc.frameworks.inspection import Found, LiveObject
    from rnncalc.io.tensor_data import TensorFormat
    from rnncalc.io.tensors import FileContents
    from rnncalc.io.weight_format import WeightFormat
    from rnncalc.reference import Blocks, Part, PartGetter, StackWeights
    from rnncalc.reference_parts import ModelWeights

    Array = np.ndarray[Any, Any]
    Arrays = dict[str, Array]
    #: A part of a model's chain other than a recurrent block.
    OtherPart = Embedding | LayerNorm | Dropout | Dense


class FrameworkConvention(Convention):
    """A convention that also builds the real model, converts its weights and reads its files."""

    #: Top-level packages whose live objects this convention reads (``torch`` for an
    #: ``nn.Module``), and how an error message names those objects; see :meth:`read_object`.
    object_packages: ClassVar[tuple[str, ...]] = ()
    objects: ClassVar[str] = ""
    #: The module (``rnncalc.frameworks.<name>_live``) whose ``read_object`` reads them.
    live_module: ClassVar[str | None] = None
    #: How this framework holds each kind of part other than a recurrent block (its module's
    #: ``PARTS``): names, shapes and the canonical tensor each one holds; ``rnncalc inspect``
    #: matches a file's tensors against these slots.
    part_layouts: ClassVar[Mapping[PartKind, PartLayout]] = {}

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

    # --- whole models (adapter and weights) ------------------------------------------------------

    def model_batch_first(self, model: Model) -> bool:
        """Whether the model this framework builds takes and returns batch-major tensors
        (``(N, T, ...)``); time-major otherwise."""
        return model.batch_first

    def model_last_step(self, model: Model) -> bool:
        """Whether the model this framework builds hands the parts after its last recurrent
        block that block's last step only (each direction's final state)."""
        return model.last_step

    def run_model_real(self, model: Model, weights: Mapping[str, Any], x: Any) -> Arrays:
        """Build the real model for ``model`` (batch and time known) as :meth:`measure_model`
        does, load these named weights (every one of :meth:`model_report`'s, no other) and run
        it on ``x`` (token ids after an embedding, else features; in
        :meth:`model_batch_first`'s layout); returns ``{"output": ...}``."""
        raise TypeError(f"rnncalc runs no whole {self.title} model")

    def part_canonical(self, part: OtherPart, name: str, tensor: Any) -> tuple[str, Array]:
        """This framework's tensor ``name`` of ``part`` as the canonical tensor it holds: its
        canonical name and value (float32; a transposed view where the framework holds it
        transposed, nothing copied)."""
        import numpy as np

        from rnncalc.reference import DTYPE

        target = self.part_layouts[part.kind].canonical[name]
        value = np.asanyarray(tensor, dtype=DTYPE)
        return target.name, value.T if target.transposed else value

    def part_tensor_from_canonical(
        self, part: OtherPart, size: int, name: str, canonical: Mapping[str, Any]
    ) -> Array:
        """This framework's tensor ``name`` of ``part`` (on ``size`` features), assembled in one
        copy from the part's canonical tensors. Raises
        :class:`~rnncalc.core.errors.ConversionError` when the canonical tensor is missing or
        its shape does not fit."""
        import numpy as np

        from rnncalc import reference
        from rnncalc.core.errors import ConversionError

        layout = self.part_layouts[part.kind]
        target = layout.canonical[name]
        if target.name not in canonical:
            raise ConversionError(
                f"{self.title} {name} of a {part.kind.value} needs its canonical {target.name}"
            )
        source = np.asanyarray(canonical[target.name], dtype=reference.DTYPE)
        value = reference.transposed(source) if target.transposed else reference.copied(source)
        shape = next(slot.shape for slot in layout.slots(part, size) if slot.name == name)
        if value.shape != shape:
            raise ConversionError(
                f"{self.title} {name} of a {part.kind.value} is {shape}; canonical {target.name} "
                f"{source.shape} gives {value.shape}"
            )
        return value

    def model_rows(self, model: Model) -> list[tuple[ModelPart, int, tuple[WeightRow, ...]]]:
        """Each part of ``model``'s chain with the features it takes and its rows of
        :meth:`model_report`, in chain order. Raises
        :class:`~rnncalc.core.errors.ConversionError` when this framework cannot build the model."""
        from rnncalc.core.errors import ConversionError
        from rnncalc.core.spec import Spec
        from rnncalc.reference_parts import part_sizes

        report = self.model_report(model)
        if report.reason:
            raise ConversionError(f"{self.title} cannot express this model: {report.reason}")
        rows = iter(report.weights)
        result = []
        for part, size in zip(model.parts, part_sizes(model), strict=True):
            if isinstance(part, Spec):
                count = len(self.report(part.replace(input_size=size)).weights)
            else:
                count = len(self.part_layouts[part.kind].slots(part, size))
            result.append((part, size, tuple(next(rows) for _ in range(count))))
        return result

    def block_paths(self, spec: Spec, rows: tuple[WeightRow, ...]) -> dict[str, str]:
        """A recurrent block's tensor paths as :meth:`report` names them alone → as the model
        names them (``weight_ih_l0`` → ``1.weight_ih_l0``); both list them in one order."""
        own = self.report(spec).weights
        for alone, inside in zip(own, rows, strict=True):
            assert (alone.name, alone.shape) == (inside.name, inside.shape), (alone, inside)
        return {alone.path: inside.path for alone, inside in zip(own, rows, strict=True)}

    def model_to_canonical(self, model: Model, weights: Mapping[str, Any]) -> ModelWeights:
        """Canonical weights of a whole model from this framework's named tensors (names as
        :meth:`model_report`), a tensor at a time."""
        from rnncalc import reference
        from rnncalc.core.spec import Spec
        from rnncalc.reference_parts import ModelWeights

        parts: list[Any] = []
        for part, size, rows in self.model_rows(model):
            if isinstance(part, Spec):
                spec = part.replace(input_size=size)
                paths = self.block_paths(spec, rows)
                named = {alone: reference.lookup(weights, inside) for alone, inside in paths.items()}
                parts.append(self.to_canonical(spec, named))
            else:
                parts.append(
                    dict(
                        self.part_canonical(part, row.name, reference.lookup(weights, row.path))
                        for row in rows
                    )
                )
        return ModelWeights(tuple(parts))

    def model_from_canonical(self, model: Model, weights: ModelWeights) -> Arrays:
        """This framework's named tensors (names as :meth:`model_report`) from a whole model's
        canonical weights. Raises :class:`~rnncalc.core.errors.ConversionError` when a value
        cannot be held (see :meth:`from_canonical`)."""
        from rnncalc.core.spec import Spec

        named: Arrays = {}
        chain = self.model_rows(model)
        if len(weights.parts) != len(chain):
            from rnncalc.core.errors import ConversionError

            raise ConversionError(f"the weights hold {len(weights.parts)} parts, the model {len(chain)}")
        for (part, size, rows), canonical in zip(chain, weights.parts, strict=True):
            if isinstance(part, Spec):
                spec = part.replace(input_size=size)
                tensors = self.from_canonical(spec, canonical)  # type: ignore[arg-type]
                named.update(
                    {inside: tensors[alone] for alone, inside in self.block_paths(spec, rows).items()}
                )
            else:
                for row in rows:
                    named[row.path] = self.part_tensor_from_canonical(part, size, row.name, canonical)  # type: ignore[arg-type]
        return named

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
        what :meth:`report` says the spec holds; see :data:`rnncalc.frameworks.inspection.Found`."""
        files = self._files()
        if files and hasattr(files, "find_layers"):
            found: Found = files.find_layers(file, contents)
            return found
        from rnncalc.io.tensors import WeightFileError

        raise WeightFileError(file, f"{self.title} reads no weight file")

    def recorded_parts(self, contents: FileContents) -> Mapping[str, Mapping[str, Any]]:
        """What the file's own config records of its parts beyond their weights, by layer name
        in the config's order (a dropout's ``rate``, a dense layer's ``per_step`` and
        ``activation``, a norm's ``epsilon``, each with its ``kind``; ``transposed``: the
        part's tensors the file's graph uses transposed); empty for a file that records no
        config. ``rnncalc inspect`` puts these in the chain it finds."""
        files = self._files()
        if files and hasattr(files, "recorded_parts"):
            found: Mapping[str, Mapping[str, Any]] = files.recorded_parts(contents)
            return found
        return {}

    # --- tensor values (optional: ``rnncalc convert``) -----------------------------------------

    def tensor_formats(self) -> tuple[TensorFormat, ...]:
        """The formats ``rnncalc convert`` reads this convention's tensor values from and writes
        them to, each with its opener and writer (see :class:`~rnncalc.io.tensor_data.TensorFormat`).
        The :attr:`files_module`'s ``tensor_formats()``, or none: convert neither reads nor
        writes this convention's files."""
        files = self._files()
        return tuple(files.tensor_formats()) if files and hasattr(files, "tensor_formats") else ()

    # --- live objects (optional: ``rnncalc.inspect(obj)``, ``rnncalc.convert(obj, ...)``) ------

    def read_object(self, obj: Any) -> LiveObject:
        """A model in memory whose class (or a base) comes from one of :attr:`object_packages`,
        read as the file it would be saved to is read, its tensors served in place; the
        :attr:`live_module` imports the framework, which the object's presence has imported."""
        import importlib

        if self.live_module is None:
            raise TypeError(f"rnncalc reads no live {self.title} object")
        found: LiveObject = importlib.import_module(self.live_module).read_object(obj)
        return found
