"""Build a CUDA C source into a CPU shared library with gpuemu's shim, and load it.

    build(code, name_expressions, sanitize="", racecheck=False) -> path of the .so

The translation unit is: the shim (forced include), the .cu source (with `__shared__ T a[N], b[N];` rewritten to
checked gpuemu::Shared<T, N> arrays when racecheck is set), then one registration per name expression, e.g.
`bn_moments<float>`, exactly the strings CuPy's RawModule(name_expressions=...) would be given. A kernel that can
reach a barrier or a warp collective runs as fibers: its body contains one, or names a __device__ function or a
macro of the file that contains one or names another such (followed through every level); the others run in direct
mode (a plain loop over the threads).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.environ.get("GPUEMU_CACHE") or os.path.join(tempfile.gettempdir(), "gpuemu-build")  # shared/ may be read-only
BARRIER = re.compile(r"__syncthreads|__syncwarp|__shfl\w*_sync|__ballot_sync|__any_sync|__all_sync")


def _body(code: str, start: int) -> str:
    """The brace-balanced body that starts at the first '{' after `start`."""
    i = code.index("{", start)
    depth = 0
    for j in range(i, len(code)):
        depth += {"{": 1, "}": -1}.get(code[j], 0)
        if depth == 0:
            return code[i:j + 1]
    raise ValueError("unbalanced braces")


def _strip_comments(code: str) -> str:
    code = re.sub(r"/\*.*?\*/", " ", code, flags=re.DOTALL)
    return re.sub(r"//[^\n]*", " ", code)


def _barrier_names(clean: str) -> set:
    """The __device__ functions and macros of the source that can reach a barrier: those whose text contains one,
    then, until nothing changes, those whose text names one of them."""
    texts: dict = {}
    for m in re.finditer(r"__device__[^;{]*?\b(\w+)\s*\(", clean):
        texts[m.group(1)] = texts.get(m.group(1), "") + _body(clean, m.end())
    for m in re.finditer(r"^[ \t]*#[ \t]*define[ \t]+(\w+)((?:[^\n]*\\\n)*[^\n]*)", clean, flags=re.MULTILINE):
        texts[m.group(1)] = texts.get(m.group(1), "") + m.group(2)
    names = {name for name, text in texts.items() if BARRIER.search(text)}
    while True:
        pattern = re.compile(r"\b(?:" + "|".join(map(re.escape, names)) + r")\b") if names else None
        more = {name for name, text in texts.items() if name not in names and pattern and pattern.search(text)}
        if not more:
            return names
        names |= more


def uses_barrier(code: str, kernel: str) -> bool:
    clean = _strip_comments(code)
    m = re.search(r"__global__[^;{]*?\b" + re.escape(kernel) + r"\s*\(", clean)
    if m is None:
        raise ValueError(f"no __global__ {kernel} in the source")
    body = _body(clean, m.end())
    if BARRIER.search(body):
        return True
    names = _barrier_names(clean)
    return bool(names) and re.search(r"\b(?:" + "|".join(map(re.escape, names)) + r")\b", body) is not None


def racecheck_rewrite(code: str) -> str:
    """`__shared__ T a[N], b[N];` -> `static gpuemu::Shared<T, N> a{"a"}, b{"b"};` (1-D arrays of one size; an
    `__align__(n)` after `__shared__` is dropped: the checked arrays are only ever read element by element)."""
    def repl(m):
        typ, decls = m.group(1), m.group(2)
        items = [d.strip() for d in decls.split(",")]
        parsed = [re.fullmatch(r"(\w+)\s*\[\s*([^\]]+?)\s*\]", d) for d in items]
        if not all(parsed) or len({p.group(2) for p in parsed}) != 1:
            raise ValueError(f"racecheck: cannot rewrite shared declaration {m.group(0)!r}")
        size = parsed[0].group(2)
        names = ", ".join(f'{p.group(1)}{{"{p.group(1)}"}}' for p in parsed)
        return f"static gpuemu::Shared<{typ}, {size}> {names};"
    return re.sub(r"__shared__\s+(?:__align__\s*\(\s*\w+\s*\)\s+)?([\w:<>]+)\s+([^;]+);", repl, code)


def build(code: str, name_expressions, sanitize: str = "", racecheck: bool = False, opt: str = "-O1") -> str:
    names = list(name_expressions)
    src = racecheck_rewrite(code) if racecheck else code
    lines = [src, "", "// ---- gpuemu registrations ----"]
    for ne in names:
        kernel = ne.split("<")[0]
        lines.append(f'GPUEMU_REGISTER("{ne}", {ne}, {"true" if uses_barrier(code, kernel) else "false"})')
    lines.append("GPUEMU_EXPORTS")
    tu = "\n".join(lines) + "\n"
    flags = ["-std=c++17", opt, "-g", "-fPIC", "-shared", "-ffp-contract=off", "-fno-strict-aliasing",
             "-Wall", "-Wno-unused-variable", "-Wno-unused-function", "-Wno-sign-compare",
             # each library keeps its own emulator state: no GNU unique or exported symbols but the API
             "-fno-gnu-unique", "-fvisibility=hidden", "-fvisibility-inlines-hidden"]
    if racecheck:
        flags.append("-DGPUEMU_RACECHECK")
    if sanitize:
        flags += [f"-fsanitize={sanitize}", "-fno-omit-frame-pointer", "-fno-sanitize-recover=all"]
    with open(os.path.join(HERE, "shim.h")) as f:
        shim = f.read()
    key = hashlib.sha256((tu + " ".join(flags) + shim).encode()).hexdigest()[:16]
    os.makedirs(CACHE, exist_ok=True)
    so = os.path.join(CACHE, f"k_{key}.so")
    if not os.path.exists(so):
        cu = os.path.join(CACHE, f"k_{key}.cu")
        with open(cu, "w") as f:
            f.write(tu)
        cmd = ["g++", *flags, "-x", "c++", "-include", os.path.join(HERE, "shim.h"), cu, "-o", so + ".tmp"]
        res = subprocess.run(cmd, check=False, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"gpuemu: g++ failed:\n{' '.join(cmd)}\n{res.stderr}")
        if res.stderr.strip():
            print(f"gpuemu: g++ warnings for {names[:1]}...:\n{res.stderr}")
        os.replace(so + ".tmp", so)
    return so
