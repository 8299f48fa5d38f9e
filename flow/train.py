"""`flow train`: quantization-aware training of a zoo model; ADMM compression plugs in here (issue B)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from .data import load_digits_split
from .errors import FlowError
from .zoo import DEFAULT_CHECKPOINT, DEFAULT_MODEL, build_model, save_checkpoint


@dataclass(frozen=True)
class TrainConfig:
    arch: str = DEFAULT_MODEL
    epochs: int = 40
    batch_size: int = 64
    learning_rate: float = 1e-2
    seed: int = 0
    out: Path = DEFAULT_CHECKPOINT


def accuracy(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray) -> float:
    model.eval()
    with torch.no_grad():
        predicted = model(torch.from_numpy(images)).argmax(1).numpy()
    return float((predicted == labels).mean())


def train(config: TrainConfig = TrainConfig(), show_progress: bool = True) -> dict:
    if config.epochs < 1 or config.batch_size < 1 or config.learning_rate <= 0:
        raise FlowError("epochs and batch size must be >= 1 and the learning rate > 0")
    torch.manual_seed(config.seed)
    model = build_model(config.arch)
    train_split, test_split = load_digits_split("train"), load_digits_split("test")
    images, labels = torch.from_numpy(train_split.images), torch.from_numpy(train_split.labels)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    generator = torch.Generator().manual_seed(config.seed)
    started = time.perf_counter()
    with Progress(
        TextColumn("[bold]train"), BarColumn(), TextColumn("{task.completed}/{task.total} epochs {task.fields[status]}"),
        TimeElapsedColumn(), disable=not show_progress,
    ) as progress:
        task = progress.add_task("train", total=config.epochs, status="")
        for _ in range(config.epochs):
            model.train()
            order = torch.randperm(len(images), generator=generator)
            for start in range(0, len(images), config.batch_size):
                batch = order[start : start + config.batch_size]
                optimizer.zero_grad()
                loss = F.cross_entropy(model(images[batch]), labels[batch])
                loss.backward()
                optimizer.step()
            schedule.step()
            progress.update(task, advance=1, status=f"loss {loss.item():.3f}")
    metrics = {
        "dataset": "sklearn digits 8x8",
        "train_samples": len(train_split.labels),
        "test_samples": len(test_split.labels),
        "test_accuracy": accuracy(model, test_split.images, test_split.labels),
        "epochs": config.epochs,
        "seed": config.seed,
        "wall_s": round(time.perf_counter() - started, 2),
    }
    save_checkpoint(model, config.arch, metrics, config.out)
    return metrics
