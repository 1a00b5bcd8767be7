"""conv2d: y = W * x (cross-correlation), its weight gradient, and the im2col / col2im layout transforms."""
