"""QKeras and Keras models (.h5, .keras): loading, the build's graph description, and hls4ml's Keras frontend.

qkeras 0.9 runs on Keras 2, which TensorFlow 2.16+ ships as tf_keras behind TF_USE_LEGACY_KERAS=1.
hls4ml 1.3 picks its Keras parser by `import keras`, and that is Keras 3 whenever TensorFlow is
installed, so its v3 parser would be handed a Keras 2 model; conversions therefore run with
`keras` bound to tf_keras (`_keras2_for_hls4ml`).
"""
from __future__ import annotations

import os
import re
import shutil
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import FlowError
from ..quiet import stderr_to, stdout_to

KERAS_SUFFIXES = {".h5", ".keras"}
INSTALL_HINT = "pip install 'flow-fpga[keras]'"
# hls4ml streams feature maps through FIFOs for these; dense-only models stay io_parallel
STREAMED_LAYERS = {"Conv1D", "Conv2D", "QConv1D", "QConv2D", "QConv2DBatchnorm", "MaxPooling1D", "MaxPooling2D",
                   "AveragePooling1D", "AveragePooling2D"}
WEIGHT_LAYERS = {"Dense", "QDense", "Conv1D", "Conv2D", "QConv1D", "QConv2D"}


def tf_keras():
    """The Keras 2 module qkeras needs, with qkeras' custom objects; a FlowError naming the extra when absent."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        with stderr_to(os.devnull):  # TensorFlow's C++ start-up lines (CUDA probing) ignore TF_CPP_MIN_LOG_LEVEL
            import tf_keras as keras2
            import qkeras  # noqa: F401 - must be imported under Keras 2
    except ImportError as exc:
        raise FlowError(f"Keras models need TensorFlow, tf-keras and qkeras ({exc.name} is missing); "
                        f"install them with {INSTALL_HINT}") from None
    return keras2


def custom_objects() -> dict:
    from qkeras.utils import _add_supported_quantized_objects

    objects = {}
    _add_supported_quantized_objects(objects)
    return objects


def load_model(path: Path):
    keras2 = tf_keras()
    try:
        with warnings.catch_warnings(), stdout_to(os.devnull), stderr_to(os.devnull):
            warnings.simplefilter("ignore")
            return keras2.models.load_model(str(path), custom_objects=custom_objects(), compile=False)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise FlowError(f"{path} is not a Keras model flow can read ({reason}); save the whole model "
                        "(model.save('model.h5')), not only its weights") from None


def c_identifier(name: str) -> str:
    name = re.sub(r"\W", "_", name)
    return name if name and not name[0].isdigit() else f"layer_{name}"


def _renamed(value, renamed: dict[str, str]):
    if isinstance(value, str):
        return renamed.get(value, value)
    if isinstance(value, (list, tuple)):
        return [_renamed(item, renamed) for item in value]
    if isinstance(value, dict):
        return {key: _renamed(item, renamed) for key, item in value.items()}
    return value


def copy_with_c_names(source: Path, target: Path) -> dict[str, str]:
    """Copy the model to `target`, renaming layers whose names are not C++ identifiers; returns {old: new}.

    hls4ml names C++ types and variables after the layers and does not check them, so a layer
    called '1_relu' only fails later, in g++. The model is rebuilt from its renamed config: the
    names also sit in every inbound-node reference. Such names start with a digit or hold
    punctuation, so no other string in the config (an activation's name, say) can equal one.
    """
    model = load_model(source)
    renamed = {layer.name: c_identifier(layer.name) for layer in model.layers if c_identifier(layer.name) != layer.name}
    staging = target.with_suffix(".tmp" + target.suffix)
    if renamed:
        copy = type(model).from_config(_renamed(model.get_config(), renamed), custom_objects=custom_objects())
        copy.set_weights(model.get_weights())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            copy.save(str(staging))
    else:
        shutil.copyfile(source, staging)
    staging.replace(target)
    return renamed


def weight_layers(model) -> list:
    return [layer for layer in model.layers if type(layer).__name__ in WEIGHT_LAYERS]


def check_source(path: Path):
    from ..zoo import check_weights

    model = load_model(path)
    arrays = {f"{layer.name}/{index}": np.asarray(value) for layer in model.layers
              for index, value in enumerate(layer.get_weights())}
    check_weights(arrays, {f"{layer.name}/0" for layer in weight_layers(model)}, path)
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise FlowError(f"{path} has {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
                        "flow compiles models with exactly one of each")
    shape = model.inputs[0].shape[1:]
    if any(size is None for size in shape):
        raise FlowError(f"{path}: the input shape {tuple(shape)} is not static; build the model with a fixed "
                        "input shape such as Input((28, 28, 1))")
    return model


def _is_softmax(layer) -> bool:
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", None) == "softmax"


def logits(model):
    """The model without a trailing softmax, and that layer's name (None when there is none).

    Argmax is the same either way, and hls4ml's softmax is a lookup table whose input range ends at
    a few units, so logits beyond it saturate into ties; the FPGA skips it and the host can apply it.
    """
    last = model.layers[-1]
    if not _is_softmax(last):
        return model, None
    if type(last).__name__ == "Activation":
        return tf_keras().Model(model.inputs, model.layers[-2].output), last.name
    last.activation = tf_keras().activations.linear  # a Dense(..., activation="softmax"): call() reads it each time
    return model, f"{last.name}_softmax"


def describe(model) -> dict:
    """graph.json for a Keras model: its layout is already hls4ml's (channels last), so no input permutation."""
    _, softmax = logits(model)
    return {
        "input_name": model.inputs[0].name.split(":")[0],
        "input_shape": [1, *model.inputs[0].shape[1:]],
        "input_perm": None,
        "channels_last": len(model.inputs[0].shape) > 2,
        "output_name": model.layers[-1].name,
        "output_shape": [1, *model.outputs[0].shape[1:]],
        "output_quantized": type(model.layers[-1 if softmax is None else -2]).__name__ == "QActivation",
        "softmax_skipped": softmax,
        "ops": [type(layer).__name__ for layer in model.layers],
    }


def reference_outputs(path: Path, inputs: np.ndarray) -> np.ndarray:
    """What the FPGA computes, by Keras: the model's outputs, before a trailing softmax."""
    model, _ = logits(load_model(path))
    return np.asarray(model.predict(inputs.astype(np.float32), verbose=0, batch_size=256),
                      dtype=np.float64).reshape(len(inputs), -1)


@contextmanager
def _keras2_for_hls4ml():
    keras2 = tf_keras()
    saved = sys.modules.get("keras")
    sys.modules["keras"] = keras2
    try:
        yield
    finally:
        if saved is None:
            sys.modules.pop("keras", None)
        else:
            sys.modules["keras"] = saved


def hls4ml_config(path: Path, backend: str, default_precision: str, reuse_factor: int) -> dict:
    import hls4ml

    model = load_model(path)
    with _keras2_for_hls4ml():
        config = hls4ml.utils.config.config_from_keras_model(model, granularity="name", backend=backend,
                                                             default_precision=default_precision,
                                                             default_reuse_factor=reuse_factor)
    _, softmax = logits(model)
    if softmax is not None:
        config["LayerName"][softmax]["Skip"] = True
    return config


def convert(path: Path, **settings):
    import hls4ml

    model = load_model(path)
    with _keras2_for_hls4ml():
        return hls4ml.converters.convert_from_keras_model(model, **settings)
