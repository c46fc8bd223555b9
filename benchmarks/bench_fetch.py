"""What verified, atomic, locked downloads cost, measured against a plain urlretrieve.

Serves one file from a local HTTP server and times, side by side in one run:

* ``urlretrieve``: the reference approach (what the 2020 lab's helpers did): no checksum, writes
  straight to the destination;
* ``fetch_cold``: `mitdeeplearning.data.fetch` into an empty cache (stream + sha256 + temp file
  + fsync + rename + lock);
* ``fetch_warm``: a cache hit (the recorded digest's size/mtime fast path, no re-hash);
* ``sha256_only``: hashing the file once, what a cache hit would cost without the fast path.

Prints one JSON line: medians over --repeats runs, and the ratios that matter.

    python benchmarks/bench_fetch.py [--mb 64] [--repeats 5]
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mitdeeplearning import data  # noqa: E402


def serve(payload: bytes) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/payload.bin"


def timed(fn, *args, **kwargs) -> float:
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    payload = os.urandom(args.mb * 1_000_000)
    digest = hashlib.sha256(payload).hexdigest()
    httpd, url = serve(payload)
    work = Path(tempfile.mkdtemp(prefix="bench-fetch-"))
    times: dict[str, list[float]] = {
        "urlretrieve": [],
        "fetch_cold": [],
        "fetch_warm": [],
        "sha256_only": [],
    }
    try:
        # Warm-up: import tqdm and filelock once, as urllib already is.
        data.fetch(url, sha256=digest, cache_dir=work / "warm-up", progress=False)
        for i in range(args.repeats):
            target, cache = work / f"plain-{i}.bin", work / f"cache-{i}"
            times["urlretrieve"].append(timed(urllib.request.urlretrieve, url, target))
            fetch_args = (data.fetch, url)
            fetch_kwargs = {"sha256": digest, "cache_dir": cache, "progress": False}
            times["fetch_cold"].append(timed(*fetch_args, **fetch_kwargs))
            times["fetch_warm"].append(timed(*fetch_args, **fetch_kwargs))
            times["sha256_only"].append(timed(data.sha256_file, target))
            assert data.fetch(url, sha256=digest, cache_dir=cache).read_bytes() == payload
            shutil.rmtree(cache)
            target.unlink()
    finally:
        httpd.shutdown()
        shutil.rmtree(work, ignore_errors=True)

    med = {k: statistics.median(v) for k, v in times.items()}
    machine = f"{platform.machine()} {os.cpu_count()} cpu, {platform.python_version()}"
    print(
        json.dumps(
            {
                "benchmark": "fetch",
                "mb": args.mb,
                "repeats": args.repeats,
                "machine": machine,
                "median_s": {k: round(v, 4) for k, v in med.items()},
                "cold_vs_urlretrieve": round(med["fetch_cold"] / med["urlretrieve"], 3),
                "warm_vs_urlretrieve": round(med["fetch_warm"] / med["urlretrieve"], 4),
                "warm_vs_rehash": round(med["fetch_warm"] / med["sha256_only"], 4),
                "fetch_cold_mb_per_s": round(args.mb / med["fetch_cold"], 1),
            }
        )
    )


if __name__ == "__main__":
    main()
