"""Multi-process training on existing engines: torch.distributed (DDP or FSDP2), started by
`torchrun` or `accelerate launch` (both set RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR).

No process management here: one process per device, launched by those tools. Without their
environment variables everything runs in one process and the helpers are no-ops.

On CPU (gloo): `torchrun --nproc_per_node N`, or `accelerate launch --multi_gpu --num_processes
N` (torch.distributed.run underneath, on CPU too). `accelerate launch --cpu --num_processes N`
starts ONE process unless given an MPI hostfile; the run's `train.meta.json` records the
world size it actually had.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

STRATEGIES = ("ddp", "fsdp")


@dataclass(frozen=True)
class Dist:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup(device: str = "auto") -> Dist:
    """Join the process group when launched by torchrun/accelerate (NCCL on CUDA, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() if device == "auto" else device.startswith("cuda")
    if use_cuda:
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    else:
        dev = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Dist(rank, world, local, dev)


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def _decoder_layers(model) -> list[torch.nn.Module]:
    """The repeated transformer blocks (the units FSDP2 shards one by one)."""
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) > 0:
            return list(module)
    raise ValueError(f"{type(model).__name__}: no ModuleList of decoder layers to shard")


def wrap(model, strategy: str, d: Dist, param_dtype: torch.dtype | None = None):
    """The model wrapped for `strategy` ("ddp" or "fsdp"); unchanged in one process."""
    if strategy not in STRATEGIES:
        raise ValueError(f"train.distributed {strategy!r}: valid are {', '.join(STRATEGIES)}")
    if not d.enabled:
        return model
    if strategy == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        ids = [d.local_rank] if d.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    mesh = init_device_mesh(d.device.type, (d.world_size,))
    # Mixed precision: compute in param_dtype, reduce gradients in float32. Otherwise reduce in
    # the parameters' own dtype (a float32 reduce_dtype would round fp64 gradients to float32).
    reduce_dtype = torch.float32 if param_dtype is not None else None
    policy = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=reduce_dtype)
    for layer in _decoder_layers(model):
        fully_shard(layer, mesh=mesh, mp_policy=policy)
    fully_shard(model, mesh=mesh, mp_policy=policy)
    return model


def unwrap(model):
    return getattr(model, "module", model)


@contextlib.contextmanager
def gradient_sync(model, enabled: bool):
    """Skip the gradient all-reduce on accumulation micro-steps (DDP no_sync / FSDP2 flag)."""
    if enabled:
        yield
        return
    if hasattr(model, "no_sync"):
        with model.no_sync():
            yield
    elif hasattr(model, "set_requires_gradient_sync"):
        model.set_requires_gradient_sync(False)
        try:
            yield
        finally:
            model.set_requires_gradient_sync(True)
    else:
        yield


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """Sum over processes (identity in one process); values on the process's device."""
    if dist.is_initialized():
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def any_process(flag: bool, device: torch.device) -> bool:
    """True when `flag` is True on any process (e.g. a SIGTERM received by one)."""
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    return bool(all_reduce_sum(t).item() > 0)


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()
