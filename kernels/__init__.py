"""Hand-written kernels of minigan's four heavy operators, one folder per operator.

Each folder holds `reference.py`: plain array code (NumPy, or CuPy through the same calls), the specification
that every faster kernel beside it is tested against.
"""
