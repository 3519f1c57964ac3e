"""Writes the host profiles of e2e/realstack: forge.host/v1 documents of the
GPU/driver combinations the real-binary verdicts are judged on.

Every profile is a trixie host (glibc 2.41, x86-64-v3, CPython 3.13), so the
glibc floor of Debian's binaries is never what is judged: only CUDA and GPU
code are. python.tags is pip's vendored packaging.tags (cpython_tags +
compatible_tags) over the platform list packaging derives for glibc 2.41, so
it is ordered exactly as sys_tags() gives it there.

Run: python3.13 gen.py (writes *.json next to this file).
"""
import json
import os

from pip._vendor.packaging import tags

GLIBC = (2, 41)


def platforms():
    out = []
    for minor in range(GLIBC[1], 4, -1):
        out.append(f"manylinux_2_{minor}_x86_64")
        legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}.get(minor)
        if legacy:
            out.append(legacy + "_x86_64")
    out.append("linux_x86_64")
    return out


def python_tags():
    plats = platforms()
    t = list(tags.cpython_tags(python_version=(3, 13), abis=["cp313"], platforms=plats))
    t += list(tags.compatible_tags(python_version=(3, 13), interpreter="cp313", platforms=plats))
    return [str(x) for x in t]


UUID = "GPU-{:08x}-0000-4000-8000-{:012x}"


def gpu(i, name, cc, mem):
    return {"index": i, "uuid": UUID.format(0x5EA1 + i, int(cc.replace(".", "")) * 1000 + i),
            "name": name, "compute_capability": cc, "memory_mib": mem}


V100 = ("Tesla V100-SXM2-32GB", "7.0", 32768)
A100 = ("NVIDIA A100-SXM4-80GB", "8.0", 81920)
H100 = ("NVIDIA H100 80GB HBM3", "9.0", 81559)
RTX4090 = ("NVIDIA GeForce RTX 4090", "8.9", 24564)
B200 = ("NVIDIA B200", "10.0", 183359)
GTX1080 = ("NVIDIA GeForce GTX 1080", "6.1", 8192)

# name: (driver, cuda, [gpus], visible_devices or None)
PROFILES = {
    "v100-driver470": ("470.256.02", "11.4", [V100], None),
    "a100-driver525": ("525.60.13", "12.0", [A100], None),
    "a100-driver535": ("535.104.05", "12.2", [A100], None),
    "h100-driver550": ("550.54.15", "12.4", [H100], None),
    "rtx4090-driver560": ("560.35.03", "12.6", [RTX4090], None),
    "b200-driver570": ("570.124.06", "12.8", [B200], None),
    "gtx1080-driver535": ("535.104.05", "12.2", [GTX1080], None),
    "v100-a100-driver535": ("535.104.05", "12.2", [V100, A100], None),
    "v100-a100-driver535-visible1": ("535.104.05", "12.2", [V100, A100], "1"),
    "v100-a100-driver535-visible0": ("535.104.05", "12.2", [V100, A100], "0"),
    "nogpu": (None, None, [], None),
}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    pytags = python_tags()
    for name, (driver, cuda, gpus, visible) in PROFILES.items():
        doc = {
            "schema": "forge.host/v1",
            "name": name,
            "os": "linux",
            "arch": "x86_64",
            "libc": {"family": "glibc", "version": "%d.%d" % GLIBC, "libstdcxx": "3.4.34"},
            "cpu": {"vendor": "GenuineIntel", "x86_64_level": 3, "flags": ["avx2", "fma"]},
            "python": {"implementation": "cp", "version": "3.13.5", "abi": "cp313", "tags": pytags},
        }
        if driver:
            doc["cuda"] = {"driver_version": driver, "cuda_version": cuda,
                           "devices": [gpu(i, *g) for i, g in enumerate(gpus)]}
        if visible is not None:
            doc["visible_devices"] = visible
        doc["libraries"] = ["libgomp.so.1"]
        with open(os.path.join(here, name + ".json"), "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")


main()
