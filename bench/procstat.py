"""What the benchmarks read from /proc about their own process (no dependencies, so every bench
venv can import it)."""


def peak_rss_mb():
    """VmHWM of /proc/self/status, in MiB (kB / 1024)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")
