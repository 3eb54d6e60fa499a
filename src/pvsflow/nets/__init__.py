"""The networks: architectures, model files and cards, objectives, devices, datasets and training."""
