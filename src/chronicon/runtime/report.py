"""What `chronicon doctor` says about the ML runtime: devices, torch, bf16 and each backend's availability."""

from __future__ import annotations

from typing import Any

from chronicon.runtime import device
from chronicon.runtime.backends import BACKENDS, backend_available
from chronicon.runtime.device import bf16_supported_on_cpu, choose_device, torch_installed


def runtime_report() -> dict[str, Any]:
    """What `chronicon doctor` shows about the ML runtime: devices, torch, bf16 and each backend's availability."""
    report: dict[str, Any] = {"torch": None, "device": "cpu", "cuda_devices": [], "mps": False}
    if torch_installed():
        try:
            import torch

            report["torch"] = str(torch.__version__)
            report["device"] = choose_device("auto")
            count = device._cuda_count()  # (module attributes, so tests can stand in for a GPU)
            report["cuda_devices"] = [str(torch.cuda.get_device_name(i)) for i in range(count)]
            report["cuda_version"] = getattr(torch.version, "cuda", None)
            report["mps"] = device._mps_available()
            report["threads"] = int(torch.get_num_threads())
        except Exception as exc:  # a broken install is reported, not raised
            report["torch_error"] = f"{type(exc).__name__}: {exc}"
    report["bf16_on_cpu"] = bf16_supported_on_cpu()
    backends: dict[str, dict[str, Any]] = {}
    for name in BACKENDS:
        ok, why = backend_available(name, report["device"])
        backends[name] = {"available": ok, "reason": why}
    report["backends"] = backends
    return report
