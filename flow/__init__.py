"""flow: ADMM-NN compressed networks from Brevitas/QONNX to hls4ml, csim and PYNQ.

The CLI is a thin layer over these functions; each takes a config dataclass and returns a result one:

    result = flow.compile(flow.BuildConfig(board="pynq-z2"))                   # -> BuildResult
    run = flow.train(flow.TrainConfig(recipe=Path("models/recipes/lenet5-admm-joint-progressive.yaml"),
                                      data_dir=Path("../shared/data/mnist")))   # -> TrainResult
    found = flow.plan(flow.PlanConfig(init=run.out / "model.pt", data_dir=Path("../shared/data/mnist")))
    outputs = flow.infer(result.build_dir, inputs).outputs                      # -> InferResult
    flow.write_report(result.build_dir)                                         # -> report.md
"""
from .build import BuildConfig, BuildResult, compile
from .errors import FlowError, VerificationError
from .infer import InferResult, infer
from .plan import PlanConfig, PlanResult, plan
from .summary import write_report
from .train import TrainConfig, TrainResult, train

__all__ = ["BuildConfig", "BuildResult", "FlowError", "InferResult", "PlanConfig", "PlanResult", "TrainConfig",
           "TrainResult", "VerificationError", "compile", "infer", "plan", "train", "write_report"]
