"""Training: model kinds (one registry), transfer-learning backbones, the training loop
with exact per-epoch metrics, and its Keras callbacks."""
