"""Augmentation: ImageDataGenerator settings (one parameter table, validated) <-> code text
<-> Keras 3 layers, and the seeded preview of what the generator does to real images."""
