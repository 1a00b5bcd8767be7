"""Benchmarks that time minigan against PyTorch on the same work, in the same process, with the same threads.

`minigan bench ops` times each heavy operator at the DCGAN layer shapes; `minigan bench step` times a whole GAN
training step. Both need PyTorch (pip install 'minigan[bench]').
"""
