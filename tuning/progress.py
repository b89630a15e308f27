"""A rich progress bar for transformers' Trainer: steps done, the latest train and eval loss."""

from __future__ import annotations

from transformers import TrainerCallback


class RichProgress(TrainerCallback):
    def __init__(self, label: str):
        self.label = label
        self.bar = None
        self.task = None
        self.loss = self.eval_loss = None

    def on_train_begin(self, args, state, control, **kwargs):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[loss]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                            console=Console(stderr=True))
        self.bar.start()
        self.task = self.bar.add_task(f"tune {self.label}", total=state.max_steps, completed=state.global_step,
                                      loss="")

    def _refresh(self, state):
        parts = [f"loss {self.loss:.3f}" if self.loss is not None else "",
                 f"eval {self.eval_loss:.3f}" if self.eval_loss is not None else ""]
        self.bar.update(self.task, completed=state.global_step, loss=" · ".join(p for p in parts if p))

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self._refresh(state)

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        self.loss = logs.get("loss", self.loss)
        self.eval_loss = logs.get("eval_loss", self.eval_loss)
        if self.bar is not None:
            self._refresh(state)

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self._refresh(state)
            self.bar.stop()
            self.bar = None
