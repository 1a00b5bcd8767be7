"""leaky_relu: y = x where x > 0, else negative_slope * x; the gradient is gy where x > 0, else slope * gy
(at x = 0, the slope side).

Every variant provides exactly the functions of CONTRACT, with these parameters; x and gy are float arrays of
one shape and dtype.
"""

CONTRACT = {
    "forward": "(x, negative_slope)",
    "backward": "(x, gy, negative_slope)",
}
