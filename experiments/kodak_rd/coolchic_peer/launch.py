"""Run a Cool-chic checkout's own `cc_encode.py` with two stand-ins, in the Python that runs Cool-chic.

Usage (run.py calls it): python launch.py COOLCHIC_DIR {encode|decode} [--rdoq] -- <arguments of cc_encode.py or
cc_decode.py>

Cool-chic reads PNG files through torchvision, which does not install beside the CPU build of torch this project
uses; a tiny stand-in module provides the one function it needs (PIL image -> float tensor [C, H, W] in [0, 1]).
Its greedy RDOQ of the network weights is skipped unless --rdoq is given (on a 2-core CPU it costs many minutes
per encode; without it the networks cost a few hundred bytes more, which only penalises Cool-chic). Nothing of
Cool-chic is copied or changed: its files are run as they are, from the user's checkout.
"""

from __future__ import annotations

import runpy
import sys
import types
from pathlib import Path

import numpy as np
import torch


def _to_tensor(picture) -> torch.Tensor:
    array = np.asarray(picture)
    if array.ndim == 2:
        array = array[:, :, None]
    scale = 65535.0 if array.dtype == np.uint16 else 255.0
    return torch.from_numpy(array.astype(np.float32) / scale).permute(2, 0, 1).contiguous()


def _unavailable(*_args, **_kwargs):
    raise RuntimeError("torchvision stand-in: only transforms.functional.to_tensor is provided")


def _install_torchvision_stand_in() -> None:
    names = ["torchvision", "torchvision.transforms", "torchvision.transforms.functional", "torchvision.models",
             "torchvision.models.vgg", "torchvision.models.optical_flow"]
    modules = {name: types.ModuleType(name) for name in names}
    modules["torchvision.transforms.functional"].to_tensor = _to_tensor
    modules["torchvision.transforms"].functional = modules["torchvision.transforms.functional"]
    modules["torchvision"].transforms = modules["torchvision.transforms"]
    modules["torchvision"].models = modules["torchvision.models"]
    modules["torchvision.models"].vgg = modules["torchvision.models.vgg"]
    modules["torchvision.models"].optical_flow = modules["torchvision.models.optical_flow"]
    modules["torchvision.models"].vgg16 = _unavailable
    modules["torchvision.models.vgg"].VGG16_Weights = types.SimpleNamespace(IMAGENET1K_V1=None)
    modules["torchvision.models.optical_flow"].raft_large = _unavailable
    modules["torchvision.models.optical_flow"].Raft_Large_Weights = types.SimpleNamespace(DEFAULT=None)
    sys.modules.update(modules)


def main(argv: list[str]) -> None:
    if "--" not in argv or len(argv[:argv.index("--")]) < 2 or argv[1] not in ("encode", "decode"):
        raise SystemExit("usage: launch.py COOLCHIC_DIR {encode|decode} [--rdoq] -- <arguments>")
    split = argv.index("--")
    own, script_args = argv[:split], argv[split + 1:]
    checkout = Path(own[0]).resolve()
    script = checkout / ("cc_encode.py" if own[1] == "encode" else "cc_decode.py")
    _install_torchvision_stand_in()
    sys.path.insert(0, str(checkout))
    if own[1] == "encode" and "--rdoq" not in own:
        import coolchic.component.video as video  # the module that calls rdoq_model by its imported name

        video.rdoq_model = lambda frame_encoder, **_kwargs: frame_encoder
    sys.argv = [str(script), *script_args]
    runpy.run_path(str(script), run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
