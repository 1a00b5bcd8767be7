"""batch_norm: normalisation by per-channel batch statistics (training) or running statistics (eval)."""
