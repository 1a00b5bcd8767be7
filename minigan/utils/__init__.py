"""torch.utils's and torchvision.utils's helpers under PyTorch's names: minigan.utils.data (Dataset,
TensorDataset, DataLoader), make_grid and save_image."""

from minigan.utils import data
from minigan.utils.image import make_grid, save_image

__all__ = ["data", "make_grid", "save_image"]
