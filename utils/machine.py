"""The machine a figure was measured on, in one line (benchmarks write it beside their tables)."""
import os
import platform


def machine_line():
    import torch
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} CPU threads, {gpu}; "
            f"Python {platform.python_version()}, torch {torch.__version__}")
