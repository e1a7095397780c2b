"""The whole model ``bench/convert.py --whole`` converts, and each conversion done by hand in the
frameworks, as a practitioner writes it: load in the source framework, build the target model
with its public API, copy the weights (transposes, biases summed or split, gates where the
target keeps them), save.

:data:`MODULE` is the PyTorch module: token ids → ``nn.Embedding`` → a stacked ``nn.LSTM`` →
``nn.LayerNorm`` → a second ``nn.LSTM`` → ``nn.Linear`` on the last step (what rnncalc assumes
of a state dict, which does not record it). :data:`BY_HAND` maps each direction
(source suffix, target suffix) to its script's imports (alone: the baseline) and body; both are
formatted with :meth:`Sizes.fields` and ``source``, ``destination``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Sizes:
    """The model's sizes: ``vocab`` tokens of ``embed`` features, ``layers`` LSTM layers of
    ``hidden`` units, then one of ``hidden2``; the head maps ``hidden2`` back to ``vocab``."""

    vocab: int = 64_000
    embed: int = 1024
    hidden: int = 2048
    layers: int = 4
    hidden2: int = 1024

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """The state dict's tensors, name → shape (nn.Module's order)."""
        v, e, h, n, h2 = self.vocab, self.embed, self.hidden, self.layers, self.hidden2
        shapes: dict[str, tuple[int, ...]] = {"embed.weight": (v, e)}
        for k in range(n):
            shapes[f"lstm.weight_ih_l{k}"] = (4 * h, e if k == 0 else h)
            shapes[f"lstm.weight_hh_l{k}"] = (4 * h, h)
            shapes |= {f"lstm.bias_ih_l{k}": (4 * h,), f"lstm.bias_hh_l{k}": (4 * h,)}
        shapes |= {"norm.weight": (h,), "norm.bias": (h,)}
        shapes |= {"lstm2.weight_ih_l0": (4 * h2, h), "lstm2.weight_hh_l0": (4 * h2, h2)}
        shapes |= {"lstm2.bias_ih_l0": (4 * h2,), "lstm2.bias_hh_l0": (4 * h2,)}
        return shapes | {"head.weight": (v, h2), "head.bias": (v,)}

    def fields(self) -> dict[str, int]:
        return asdict(self)


MODULE = """
import torch

class LM(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding({vocab}, {embed})
        self.lstm = torch.nn.LSTM({embed}, {hidden}, num_layers={layers}, batch_first=True)
        self.norm = torch.nn.LayerNorm({hidden})
        self.lstm2 = torch.nn.LSTM({hidden}, {hidden2}, batch_first=True)
        self.head = torch.nn.Linear({hidden2}, {vocab})

    def forward(self, ids):
        x, _ = self.lstm(self.embed(ids))
        x, _ = self.lstm2(self.norm(x))
        return self.head(x[:, -1])
"""

#: Writes the source ``.pt``: the module's random initial weights (nonzero everywhere).
MAKE_PT = f"""{MODULE}
torch.manual_seed(0)
torch.save(LM().state_dict(), {{destination!r}})
"""

TO_KERAS = """
w = {{name: tensor.numpy() for name, tensor in torch.load({source!r}).items()}}
model = keras.Sequential([
    keras.Input((None,), dtype="int32"),
    keras.layers.Embedding({vocab}, {embed}),
    *[keras.layers.LSTM({hidden}, return_sequences=True) for _ in range({layers})],
    keras.layers.LayerNormalization(epsilon=1e-5),
    keras.layers.LSTM({hidden2}),
    keras.layers.Dense({vocab}),
])
def lstm(prefix, k):  # Keras's kernels are (in, 4H), gates i, f, c, o as PyTorch's; one bias
    return [w[f"{{prefix}}.weight_ih_l{{k}}"].T, w[f"{{prefix}}.weight_hh_l{{k}}"].T,
            w[f"{{prefix}}.bias_ih_l{{k}}"] + w[f"{{prefix}}.bias_hh_l{{k}}"]]
model.layers[0].set_weights([w["embed.weight"]])
for k in range({layers}):
    model.layers[1 + k].set_weights(lstm("lstm", k))
model.layers[{layers} + 1].set_weights([w["norm.weight"], w["norm.bias"]])
model.layers[{layers} + 2].set_weights(lstm("lstm2", 0))
model.layers[{layers} + 3].set_weights([w["head.weight"].T, w["head.bias"]])
model.save({destination!r})
"""

KERAS_TO_PT = """
model = keras.saving.load_model({source!r})
state = {{"embed.weight": model.layers[0].get_weights()[0]}}
def lstm(prefix, k, layer):
    kernel, recurrent, bias = layer.get_weights()
    state.update({{f"{{prefix}}.weight_ih_l{{k}}": kernel.T, f"{{prefix}}.weight_hh_l{{k}}": recurrent.T,
                  f"{{prefix}}.bias_ih_l{{k}}": bias, f"{{prefix}}.bias_hh_l{{k}}": 0 * bias}})
for k in range({layers}):
    lstm("lstm", k, model.layers[1 + k])
state["norm.weight"], state["norm.bias"] = model.layers[{layers} + 1].get_weights()
lstm("lstm2", 0, model.layers[{layers} + 2])
kernel, state["head.bias"] = model.layers[{layers} + 3].get_weights()
state["head.weight"] = kernel.T
module = LM()
module.load_state_dict({{name: torch.from_numpy(value.copy()) for name, value in state.items()}})
torch.save(module.state_dict(), {destination!r})
"""

TO_ONNX = """
module = LM()
module.load_state_dict(torch.load({source!r}))
module.eval()
ids = torch.zeros(2, 5, dtype=torch.long)
torch.onnx.export(module, (ids,), {destination!r}, input_names=["ids"],
                  dynamic_axes={{"ids": {{0: "batch", 1: "time"}}}}, external_data=False)
"""

TO_MSGPACK = """
w = {{name: tensor.numpy() for name, tensor in torch.load({source!r}).items()}}
rngs = nnx.Rngs(0)
model = nnx.Sequential(
    nnx.Embed({vocab}, {embed}, rngs=rngs),
    *[nnx.RNN(nnx.LSTMCell({embed} if k == 0 else {hidden}, {hidden}, rngs=rngs)) for k in range({layers})],
    nnx.LayerNorm({hidden}, epsilon=1e-5, rngs=rngs),
    nnx.RNN(nnx.LSTMCell({hidden}, {hidden2}, rngs=rngs), return_carry=False),
    nnx.Linear({hidden2}, {vocab}, rngs=rngs),
)
def lstm(cell, prefix, k, hidden):  # one nnx.Linear per gate and side; only the h side has a bias
    bias = w[f"{{prefix}}.bias_ih_l{{k}}"] + w[f"{{prefix}}.bias_hh_l{{k}}"]
    for g, gate in enumerate(("i", "f", "g", "o")):
        rows = slice(g * hidden, (g + 1) * hidden)
        inputs = getattr(cell, "if_" if gate == "f" else "i" + gate)
        inputs.kernel.value = w[f"{{prefix}}.weight_ih_l{{k}}"][rows].T
        getattr(cell, "h" + gate).kernel.value = w[f"{{prefix}}.weight_hh_l{{k}}"][rows].T
        getattr(cell, "h" + gate).bias.value = bias[rows]
model.layers[0].embedding.value = w["embed.weight"]
for k in range({layers}):
    lstm(model.layers[1 + k].cell, "lstm", k, {hidden})
model.layers[{layers} + 1].scale.value = w["norm.weight"]
model.layers[{layers} + 1].bias.value = w["norm.bias"]
lstm(model.layers[{layers} + 2].cell, "lstm2", 0, {hidden2})
model.layers[{layers} + 3].kernel.value = w["head.weight"].T
model.layers[{layers} + 3].bias.value = w["head.bias"]
with open({destination!r}, "wb") as file:
    file.write(flax.serialization.msgpack_serialize(nnx.to_pure_dict(nnx.state(model, nnx.Param))))
"""

#: (source, target) → (imports, body).
BY_HAND: dict[tuple[str, str], tuple[str, str]] = {
    (".pt", ".keras"): ("import torch, keras", TO_KERAS),
    (".pt", ".onnx"): (MODULE + "import onnx, onnxscript", TO_ONNX),
    (".keras", ".pt"): ("import keras" + MODULE, KERAS_TO_PT),
    (".pt", ".msgpack"): ("import torch, flax.serialization\nfrom flax import nnx", TO_MSGPACK),
}
