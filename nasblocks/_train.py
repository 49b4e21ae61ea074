"""The plain proxy training loop a search runs on each candidate.

Nothing clever on purpose: proxy accuracy ranks candidates, and a loop anyone can read is one whose
ranking anyone can trust. Data is already on the device (see ``_data``), so an epoch is a seeded
permutation sliced into batches.

>>> import torch.nn as nn
>>> from nasblocks._data import load_dataset
>>> data = load_dataset("digits", resolution=None, device=torch.device("cpu"), limit=300)
>>> _ = torch.manual_seed(0)
>>> model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10))
>>> result = train(model, data, epochs=3, seed=0)
>>> result.accuracy > 0.5, result.epochs_run
(True, 3)
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn as nn

from nasblocks._data import Dataset

# GoogLeNet (Szegedy et al. 2015, sec. 5) adds the auxiliary classifiers' losses weighted by 0.3
AUX_WEIGHT = 0.3


@dataclass(frozen=True)
class TrainResult:
    """Outcome of one proxy training run; ``accuracy`` is validation top-1 in [0, 1]."""

    accuracy: float
    epochs_run: int
    seconds: float
    seed: int
    device: str


def train(model: nn.Module, data: Dataset, *, epochs: int, batch_size: int = 128, lr: float = 0.05,
          momentum: float = 0.9, weight_decay: float = 5e-4, label_smoothing: float = 0.0,
          optimizer: Literal["sgd", "adamw"] = "sgd", seed: int, amp: bool | None = None,
          report: Callable[[int, float], None] | None = None) -> TrainResult:
    """Train ``model`` on ``data``'s device with a cosine schedule; return validation accuracy.

    ``seed`` fixes the shuffling and any randomness inside the model (dropout), so on CPU the
    same seed gives the same accuracy with the same torch build and thread count (a CPU kernel's
    sums are split by thread); seed the model's initialisation yourself, before building it.
    ``amp`` (default: on for CUDA) runs forward passes under autocast, bf16 where supported and
    fp16 with loss scaling otherwise. ``report(epoch, val_accuracy)`` is called after each
    epoch (1-based); an exception it raises, such as ``optuna.TrialPruned``, stops training and
    propagates. A model whose training forward returns a tuple (main logits, then auxiliary heads)
    is trained on ``loss(main) + 0.3 * sum(loss(aux))``. The model is left in eval mode.
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"expected epochs >= 1 and batch_size >= 1, got {epochs} and {batch_size}")
    device = data.train_x.device
    amp = _uses_amp(device, amp)
    dtype = _amp_dtype(device)
    start = time.perf_counter()
    torch.manual_seed(seed)
    shuffle = torch.Generator().manual_seed(seed)
    model.to(device)
    opt = _optimizer(model, optimizer, lr, momentum, weight_decay)
    n = len(data.train_y)
    steps = max(1, n // batch_size)  # drop the ragged last batch: a batch of 1 breaks batch norm
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps)
    scaler = torch.amp.GradScaler(device.type, enabled=amp and dtype == torch.float16)
    criterion = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    accuracy = 0.0
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(n, generator=shuffle).to(device)
        for step in range(steps):
            idx = order[step * batch_size:(step + 1) * batch_size]
            with torch.autocast(device.type, dtype=dtype, enabled=amp):
                loss = _loss(criterion, model(data.train_x[idx]), data.train_y[idx])
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            schedule.step()
        accuracy = evaluate(model, data, batch_size=batch_size, amp=amp)
        if report is not None:
            report(epoch, accuracy)
    return TrainResult(accuracy=accuracy, epochs_run=epochs, seconds=time.perf_counter() - start,
                       seed=seed, device=str(device))


# The settings a training recipe sets, at ``train``'s defaults: with the recipe's and the user's
# values over them, what a search trains with and records
RECIPE_DEFAULTS = {name: p.default for name, p in inspect.signature(train).parameters.items()
                   if name in ("optimizer", "lr", "momentum", "weight_decay", "label_smoothing", "batch_size")}


@torch.inference_mode()
def evaluate(model: nn.Module, data: Dataset, *, batch_size: int = 128, amp: bool = False) -> float:
    """Validation top-1 accuracy of ``model`` (put in eval mode) on ``data``, in [0, 1]."""
    model.eval()
    device = data.val_x.device
    dtype = _amp_dtype(device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    for i in range(0, len(data.val_y), batch_size):
        with torch.autocast(device.type, dtype=dtype, enabled=amp):
            out = model(data.val_x[i:i + batch_size])
        logits = out[0] if isinstance(out, tuple) else out
        correct += (logits.argmax(dim=1) == data.val_y[i:i + batch_size]).sum()
    return correct.item() / max(1, len(data.val_y))


def _loss(criterion: nn.Module, out: torch.Tensor | tuple, target: torch.Tensor) -> torch.Tensor:
    if not isinstance(out, tuple):
        return criterion(out, target)
    main, *aux = out
    return criterion(main, target) + AUX_WEIGHT * sum(criterion(a, target) for a in aux if a is not None)


def precision(device: torch.device, amp: bool | None = None) -> str:
    """What ``train`` computes in on ``device``: ``fp32``, or ``bf16``/``fp16`` under autocast (a
    search records it with each trial: it changes the accuracy a trial reaches)."""
    if not _uses_amp(device, amp):
        return "fp32"
    return f"{'bf16' if _amp_dtype(device) == torch.bfloat16 else 'fp16'} autocast"


def _uses_amp(device: torch.device, amp: bool | None) -> bool:
    return device.type == "cuda" if amp is None else amp


def _amp_dtype(device: torch.device) -> torch.dtype:
    """bf16 needs no loss scaling; older GPUs without it fall back to fp16 with a GradScaler."""
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


def _optimizer(model: nn.Module, name: str, lr: float, momentum: float,
               weight_decay: float) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    raise ValueError(f"expected optimizer 'sgd' or 'adamw', got {name!r}")
