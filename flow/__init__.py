"""flow: ADMM-NN compressed networks from Brevitas/QONNX to hls4ml, csim and PYNQ.

The CLI is a thin layer over these functions:
    flow.compile(flow.BuildConfig(board="pynq-z2"))
    flow.train(flow.TrainConfig(recipe="models/recipes/lenet5-admm-joint.yaml", data_dir="../shared/data/mnist"))
    flow.plan(flow.PlanConfig(init="runs/lenet5-pretrain/model.pt", board="pynq-z2", data_dir="../shared/data/mnist"))
    flow.infer("build/lenet-digits-pynq-z2", inputs)
    flow.write_report("build/lenet-digits-pynq-z2")
"""
from .build import BuildResult, compile
from .config import BuildConfig
from .errors import FlowError, VerificationError
from .infer import infer
from .plan import PlanConfig, plan
from .report import write_report
from .train import TrainConfig, train

__all__ = ["BuildConfig", "BuildResult", "FlowError", "PlanConfig", "TrainConfig", "VerificationError", "compile",
           "infer", "plan", "train", "write_report"]
