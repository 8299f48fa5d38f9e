"""flow: ADMM-NN compressed networks from Brevitas/QONNX to hls4ml, csim and PYNQ.

The CLI is a thin layer over these functions; each takes a config dataclass and returns a result one:

    result = flow.compile(flow.BuildConfig(board="pynq-z2"))                   # -> BuildResult
    run = flow.train(flow.TrainConfig(recipe=Path("models/recipes/lenet5-admm-joint-progressive.yaml"),
                                      data_dir=Path("../shared/data/mnist")))   # -> TrainResult
    found = flow.plan(flow.PlanConfig(init=run.out / "model.pt", data_dir=Path("../shared/data/mnist")))
    outputs = flow.infer(result.build_dir, inputs).outputs                      # -> InferResult
    flow.write_report(result.build_dir)                                         # -> report.md
"""
import importlib

# name -> module; loaded on first use, so the CLI starts without torch, Brevitas or hls4ml and each command
# imports only what it runs
_EXPORTS = {"BuildConfig": ".build", "BuildResult": ".build", "compile": ".build", "FlowError": ".errors",
            "VerificationError": ".errors", "InferResult": ".infer", "infer": ".infer", "PlanConfig": ".plan",
            "PlanResult": ".plan", "plan": ".plan", "write_report": ".summary", "TrainConfig": ".train",
            "TrainResult": ".train", "train": ".train"}
__all__ = sorted(_EXPORTS)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'flow' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
