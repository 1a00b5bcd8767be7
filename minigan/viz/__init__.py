"""Pictures of training: sample grids, loss curves, and 2-D samples over the discriminator's decision surface.

Everything is drawn with matplotlib's Agg renderer on figures that pyplot never sees, so importing or using
this package leaves the user's backend and open figures alone. Every file is a PNG written atomically.
"""

from minigan.viz.curves import plot_losses, read_records
from minigan.viz.grid import image_grid, save_grid
from minigan.viz.points import plot_points

__all__ = ["image_grid", "plot_losses", "plot_points", "read_records", "save_grid"]
