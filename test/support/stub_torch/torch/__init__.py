"""A stand-in for torch in CI (no torch, no GPU there): enough of its surface for the generated
package's Python logic — argument validation, sizes, the op's fake implementation, the plug's
routing and counts. Tensors are shapes with a dtype and a device; a custom op runs its fake
implementation (and is logged in OP_CALLS); cpp_extension.load fails like a build without nvcc."""
import contextlib

from . import cuda, library, nn, utils, version  # noqa: F401

__version__ = "0.0-stub"
OP_CALLS = []  # (op name, args) of every custom-op call


class dtype:
    def __init__(self, name, size, floating):
        self.name, self.itemsize, self.is_floating_point = name, size, floating

    def __repr__(self):
        return f"torch.{self.name}"


bfloat16, float16, float32 = dtype("bfloat16", 2, True), dtype("float16", 2, True), dtype("float32", 4, True)
int64, int32, int16, int8, uint8 = dtype("int64", 8, False), dtype("int32", 4, False), dtype("int16", 2, False), dtype("int8", 1, False), dtype("uint8", 1, False)
bool_ = dtype("bool", 1, False)
globals()["bool"] = bool_
contiguous_format = "contiguous_format"


class device:
    def __init__(self, spec="cuda:0"):
        spec = str(spec)
        self.type = spec.split(":")[0]
        self.index = int(spec.split(":")[1]) if ":" in spec else (0 if self.type == "cuda" else None)

    def __eq__(self, other):
        return str(self) == str(device(other) if isinstance(other, str) else other)

    def __hash__(self):
        return hash(str(self))

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    __repr__ = __str__


class Size(tuple):
    pass


class Tensor:
    def __init__(self, shape, dtype=float32, device_="cuda:0", requires_grad=False):
        self.shape = Size(int(s) for s in shape)
        self.dtype = dtype
        self.device = device_ if isinstance(device_, device) else device(device_)
        self.requires_grad = requires_grad

    @property
    def is_cuda(self):
        return self.device.type == "cuda"

    def dim(self):
        return len(self.shape)

    def numel(self):
        n = 1
        for s in self.shape:
            n *= s
        return n

    def element_size(self):
        return self.dtype.itemsize

    def stride(self, i=None):
        st, acc = [], 1
        for s in reversed(self.shape):
            st.append(acc)
            acc *= s
        st = tuple(reversed(st))
        return st if i is None else st[i]

    def data_ptr(self):
        return 0

    def to(self, device=None, dtype=None):
        return Tensor(self.shape, dtype or self.dtype, device or self.device, self.requires_grad)

    def contiguous(self):
        return self

    def reshape(self, *shape):
        return Tensor(shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape, self.dtype, self.device)

    def expand(self, *shape):
        return self.reshape(*shape)

    def new_empty(self, shape, dtype=None):
        return Tensor(shape, dtype or self.dtype, self.device)

    def __repr__(self):
        return f"Tensor({list(self.shape)}, {self.dtype}, {self.device})"


def empty(shape, dtype=float32, device="cuda:0"):
    return Tensor(shape, dtype, device)


def empty_like(x, memory_format=None, dtype=None):
    return Tensor(x.shape, dtype or x.dtype, x.device)


def tensor(values, dtype=int64, device="cpu"):
    return Tensor((len(values),) if isinstance(values, (list, tuple)) else (), dtype, device)


_grad = [True]



def is_grad_enabled():
    return _grad[-1]


@contextlib.contextmanager
def no_grad():
    _grad.append(False)
    try:
        yield
    finally:
        _grad.pop()


class _Namespace:
    pass


class _Ops:
    def __getattr__(self, name):
        ns = _Namespace()
        setattr(self, name, ns)
        return ns


ops = _Ops()


def randn(*shape, device="cpu", dtype=float32, generator=None):
    return Tensor(shape, dtype, device)


def compile(model, fullgraph=False, **kw):
    return model  # Dynamo is not stubbed: test/cuda.torch_cpu.test.ts runs real torch.compile (CPU), bench/cuda/pipeline_check.py on a GPU
