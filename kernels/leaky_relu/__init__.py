"""leaky_relu: y = x where x > 0, else slope * x."""
