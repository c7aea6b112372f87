"""Training over the generated network modules: tasks, NumPy optimizers, clipping."""
from .optim import OPTIMIZERS, SGD, Adam, clip_by_global_norm, clip_by_value, global_norm
from .tasks import BASELINE_MSE, TASKS, adding_batch, task

__all__ = ["OPTIMIZERS", "SGD", "Adam", "clip_by_global_norm", "clip_by_value",
           "global_norm", "BASELINE_MSE", "TASKS", "adding_batch", "task"]
