"""Evaluation: metrics from one confusion matrix (equal to scikit-learn's), and the
evaluation traps reproduced on a stored model."""
