"""matmul: y = a @ b for arrays of two or more dimensions, leading (batch) dimensions broadcast as in NumPy.

Every variant provides exactly the functions of CONTRACT, with these parameters.
"""

CONTRACT = {
    "matmul": "(a, b)",
}
