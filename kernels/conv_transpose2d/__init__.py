"""conv_transpose2d: the adjoint of conv2d with respect to its input."""
