"""Training: the Trainer (Goodfellow et al.'s loop around any GAN of minigan.models, with logs, pictures and
checkpoints) and the checkpoints it writes and reads. The GANs and their losses live in minigan.models."""
