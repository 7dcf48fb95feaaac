"""The Android properties this project adds to an emulated device, and the agent reads back.

The emulated device (``emulated_device``) sets them, the agent reports them and the host's doctor
and fingerprint read them: one place for the names, importing nothing, so the emulated device's
daemon starts without the agent's numpy and runtime imports.
"""

# an emulated device's software GPU and NPU, by kind ("SwiftShader (fp32)"), and what to install for a missing GPU
SOFTWARE_PROPS = {"GPU": "ro.quantbench.software_gpu", "NPU": "ro.quantbench.software_npu"}
MISSING_GPU_PROP = "ro.quantbench.software_gpu_missing"
