#!/usr/bin/env python3
"""Writes the PyTorch fixtures of tests/data/torch/ (see its README.md).

Every file is written by PyTorch itself (`torch.save`, `torch.jit.save`) except the
legacy tar checkpoints: no PyTorch released since 0.4 writes that layout, so they are
written here the way `torch.save` of PyTorch 0.1–0.3 wrote them, and each one is then
read back with the installed `torch.load` to prove the layout is the one PyTorch reads.
Malicious objects carry a harmless command (`echo aigis-test`); nothing malicious is
ever loaded here.

    python3 -m venv /tmp/venv-torch && /tmp/venv-torch/bin/pip install torch numpy
    /tmp/venv-torch/bin/python scripts/make_torch_corpus.py

(The PyPI wheel brings its CUDA libraries, about 5 GB; the CPU code is all this needs.)
"""
import collections
import io
import os
import pickle
import struct
import tarfile
import warnings
from pathlib import Path

import torch
import torch.nn as nn

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "torch"
CMD = "echo aigis-test"


class Evil:
    """An object whose pickle calls `os.system(CMD)` when loaded."""

    def __reduce__(self):
        return (os.system, (CMD,))


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))


def real() -> None:
    m = model()
    torch.save(m.state_dict(), OUT / "state_dict.pt")
    torch.save(m.state_dict(), OUT / "pytorch_model.bin")
    torch.save(m, OUT / "module.pt")
    torch.save(m.state_dict(), OUT / "state_dict_legacy.pt", _use_new_zipfile_serialization=False)
    torch.save(m.half().state_dict(), OUT / "half_legacy.pt", _use_new_zipfile_serialization=False)
    m = model()
    opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    m(torch.ones(2, 4)).sum().backward()
    opt.step()
    torch.save(
        {"epoch": 3, "model": m.state_dict(), "optimizer": opt.state_dict()},
        OUT / "checkpoint.pt",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(model()), OUT / "scripted.pt")
        torch.jit.save(torch.jit.trace(model(), torch.zeros(1, 4)), OUT / "traced.pt")
    evil = model().state_dict()
    evil["_extra"] = Evil()
    torch.save(evil, OUT / "evil_state_dict.pt")
    torch.save(evil, OUT / "evil_state_dict_legacy.pt", _use_new_zipfile_serialization=False)


class PidPickler(pickle.Pickler):
    """Names tensors by persistent id, as the legacy tar writer did."""

    def __init__(self, f, ids):
        super().__init__(f, protocol=2)
        self.ids = ids

    def persistent_id(self, obj):
        return self.ids.get(id(obj))


def legacy_tar(evil_storage=False, evil_tensor=False, leftover=False) -> bytes:
    """A state dict of two float tensors in the tar layout of `torch.save` before 0.4:
    members `sys_info`, `storages`, `tensors` and `pickle` (see `_legacy_load` in
    torch/serialization.py for the reader)."""
    weight = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    bias = torch.tensor([0.5, -0.5], dtype=torch.float32)
    tensors = [(2, 0, weight), (3, 1, bias)]  # tensor key, storage key, tensor
    sys_info = dict(protocol_version=1001, little_endian=True, type_sizes=dict(short=2, int=4, long=4))

    storages = io.BytesIO()
    storages.write(pickle.dumps(len(tensors)))
    for _, key, t in tensors:
        storage_type = Evil() if evil_storage and key == 1 else torch.FloatStorage
        storages.write(pickle.dumps((key, "cpu", storage_type), protocol=2))
        storages.write(struct.pack("<q", t.numel()))
        storages.write(struct.pack(f"<{t.numel()}f", *t.flatten().tolist()))
    storages.write(pickle.dumps([]))  # storage views
    if leftover:
        storages.write(pickle.dumps(Evil(), protocol=2))

    tensors_member = io.BytesIO()
    tensors_member.write(pickle.dumps(len(tensors)))
    for key, storage_key, t in tensors:
        tensor_type = Evil() if evil_tensor and key == 3 else torch.FloatTensor
        tensors_member.write(pickle.dumps((key, storage_key, tensor_type), protocol=2))
        tensors_member.write(struct.pack("<i", t.dim()) + b"\0" * 4)
        tensors_member.write(struct.pack(f"<{t.dim()}q", *t.shape))
        tensors_member.write(struct.pack(f"<{t.dim()}q", *t.stride()))
        tensors_member.write(struct.pack("<q", 0))

    state = collections.OrderedDict([("layer.weight", weight), ("layer.bias", bias)])
    obj = io.BytesIO()
    PidPickler(obj, {id(t): str(key) for key, _, t in tensors}).dump(state)

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (
            ("sys_info", pickle.dumps(sys_info, protocol=2)),
            ("storages", storages.getvalue()),
            ("tensors", tensors_member.getvalue()),
            ("pickle", obj.getvalue()),
        ):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def legacy() -> None:
    path = OUT / "legacy_tar.pt"
    path.write_bytes(legacy_tar())
    # the layout is the one torch.load reads: the benign file loads to the same tensors
    loaded = torch.load(path, weights_only=False)
    assert torch.equal(loaded["layer.weight"], torch.arange(6, dtype=torch.float32).reshape(2, 3))
    assert torch.equal(loaded["layer.bias"], torch.tensor([0.5, -0.5]))
    (OUT / "legacy_tar_evil_storage.pt").write_bytes(legacy_tar(evil_storage=True))
    (OUT / "legacy_tar_evil_tensor.pt").write_bytes(legacy_tar(evil_tensor=True))
    (OUT / "legacy_tar_leftover.pt").write_bytes(legacy_tar(leftover=True))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    real()
    legacy()
    print(f"wrote {len(list(OUT.iterdir()))} files to {OUT} with torch {torch.__version__}")


if __name__ == "__main__":
    main()
