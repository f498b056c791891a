"""Is a finished run a model at all? A run no better than the majority baseline, or one that
predicts one class for nearly every image, gets a warning naming likely causes instead of a
green "complete"."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lib.i18n import N_, Deferred, _, shown
from lib.train.settings import TrainSettings

MARGIN = 0.02  # "no better than the baseline": at most 2 points above it
ONE_CLASS_SHARE = 0.9  # "nearly every image": 90 % of the predictions or more


@dataclass(frozen=True)
class Collapse:
    seen: tuple[str, ...]  # what shows the model did not learn (Deferred: English as strings)
    causes: tuple[str, ...]  # likely causes, from the run's settings

    def sentence(self) -> str:
        """The warning in the caller's language (English: the sentence it always was)."""
        return _("This model has not learned the task: {seen}. Likely causes: {causes}.").format(
            seen="; ".join(shown(s) for s in self.seen), causes="; ".join(shown(c) for c in self.causes)
        )


def likely_causes(settings: TrainSettings | None) -> tuple[str, ...]:
    if settings is None:
        return (Deferred(N_("the learning rate")), Deferred(N_("too few epochs")))
    causes = []
    lr = settings.learning_rate
    if lr >= 0.1:
        causes.append(
            Deferred(N_("learning rate {lr} is large: the weights jump past any minimum (try 0.001)"), lr=f"{lr:g}")
        )
    else:
        causes.append(
            Deferred(N_("the learning rate ({lr}): too large stalls the loss, too small barely moves it"), lr=f"{lr:g}")
        )
    if settings.epochs <= 3:
        causes.append(Deferred(N_("too few epochs ({n})"), n=settings.epochs))
    else:
        causes.append(Deferred(N_("the number of epochs ({n})"), n=settings.epochs))
    if settings.is_transfer and not settings.pretrained and settings.transfer == "feature_extraction":
        causes.append(
            Deferred(N_("a frozen backbone with random weights (NOT pretrained): its features carry no information"))
        )
    elif settings.is_transfer and not settings.pretrained:  # fine-tuning, or everything trains
        causes.append(
            Deferred(
                N_(
                    "a backbone with random weights (NOT pretrained): nothing learned before to transfer, and its "
                    "frozen layers may pass almost no signal (a random MobileNetV2's output is near 0)"
                )
            )
        )
    return tuple(causes)


def check_collapse(
    cm: np.ndarray,
    baseline_accuracy: float | None,
    settings: TrainSettings | None = None,
    class_names: tuple[str, ...] | list[str] | None = None,
) -> Collapse | None:
    """A Collapse when test accuracy is at most MARGIN above the majority baseline, or one class
    gets ONE_CLASS_SHARE of the predictions or more; None when neither holds."""
    total = int(cm.sum())
    if total == 0 or cm.shape[0] < 2:
        return None
    seen = []
    accuracy = float(np.trace(cm) / total)
    known = baseline_accuracy is not None and baseline_accuracy == baseline_accuracy  # NaN: not recorded
    if known and accuracy <= baseline_accuracy + MARGIN:
        seen.append(
            Deferred(
                N_("test accuracy {accuracy} is no better than the majority baseline {baseline}"),
                accuracy=f"{accuracy:.1%}",
                baseline=f"{baseline_accuracy:.1%}",
            )
        )
    predicted = cm.sum(axis=0)
    top = int(predicted.argmax())
    share = float(predicted[top] / total)
    if share >= ONE_CLASS_SHARE:
        share_text = f"{share:.0%}"
        seen.append(
            Deferred(
                N_("it predicts '{name}' (class {index}) for {share} of the test images"),
                name=class_names[top],
                index=top,
                share=share_text,
            )
            if class_names is not None
            else Deferred(N_("it predicts class {index} for {share} of the test images"), index=top, share=share_text)
        )
    if not seen:
        return None
    return Collapse(tuple(seen), likely_causes(settings))
