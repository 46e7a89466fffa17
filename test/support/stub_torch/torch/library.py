import torch


class CustomOp:
    def __init__(self, name, fn, mutates_args):
        self.name, self.fn, self.mutates_args, self.fake = name, fn, tuple(mutates_args), None

    def register_fake(self, fake):
        self.fake = fake
        return fake

    def register_autograd(self, backward, setup_context=None):
        self.autograd = (backward, setup_context)

    def __call__(self, *args):
        torch.OP_CALLS.append((self.name, args))
        return self.fake(*args)  # no GPU here: the fake is what runs


def custom_op(name, fn=None, *, mutates_args, device_types=None, schema=None):
    def register(f):
        ns, op = name.split("::")
        space = getattr(torch.ops, ns)
        if hasattr(space, op):
            raise RuntimeError(f"{name} is already registered")
        c = CustomOp(name, f, mutates_args)
        setattr(space, op, c)
        return c

    return register(fn) if fn is not None else register
