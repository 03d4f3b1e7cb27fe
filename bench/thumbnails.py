"""Thumbnail benchmark: ``imagegen.imaging.process_image`` against libvips (pyvips) and the decode floor.

    .venv/bin/python bench/thumbnails.py [--runs 5] [--only jpeg_48mp,png_12mp] [--out PATH]

Needs libvips (Debian: ``apt-get install -y libvips42``) and ``pip install -r bench/requirements.txt``;
neither is a runtime dependency of the project.

For every input and every method, each measurement runs in a fresh Python process, so the peak
RSS of one measurement is not inflated by another. In that process the method first handles a
tiny image of the same format (loading codecs, plugins and thread pools, which a warm Lambda has
already done), then the input once; wall time, CPU time and peak RSS are taken around that one
call. Peak RSS is ``ru_maxrss`` of the process (interpreter, imports and the input bytes
included), alongside ``VmHWM`` (the same high-water mark, read from /proc, which unlike
``ru_maxrss`` is not inherited across exec from a bigger parent).

Methods:
  ours   process_image(data): validation, one reduced decode, 1024 and 256 WebP, BlurHash.
  vips   pyvips.Image.thumbnail_buffer(data, 1024) and (data, 256), each to WebP: libvips'
         recommended path (shrink-on-load, auto-rotate), two decodes like a typical service.
  vips1  thumbnail_buffer(data, 1024) once, then thumbnail_image(256) from it: one decode.
  floor  Pillow open + draft (JPEG) + load: the cost of decoding alone, no resize or encode.

The inputs are generated here (gradients, multi-scale noise, shapes and grain: not flat colour,
so the codecs work as hard as on a photo) and cached under bench/results/inputs/.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
INPUTS = RESULTS / "inputs"
MAX_BYTES = 256 * 1024 * 1024  # the bench measures the pipeline, not the upload limit


@dataclass(frozen=True)
class Case:
    name: str
    fmt: str
    size: tuple[int, int]
    alpha: bool = False
    orientation: int = 1


CASES = (
    Case("jpeg_1mp", "JPEG", (1152, 864)),
    Case("jpeg_12mp", "JPEG", (4000, 3000)),
    Case("jpeg_48mp", "JPEG", (8000, 6000)),
    Case("jpeg_12mp_exif6", "JPEG", (4000, 3000), orientation=6),
    Case("png_rgba_1mp", "PNG", (1152, 864), alpha=True),
    Case("png_12mp", "PNG", (4000, 3000)),
    Case("webp_4mp", "WEBP", (2304, 1728)),
)
METHODS = ("ours", "vips", "vips1", "floor")
TINY = {"JPEG": (64, 48), "PNG": (64, 48), "WEBP": (64, 48)}


# ---------------------------------------------------------------------------------------------
# inputs


def photo_like(width: int, height: int, seed: int, alpha: bool = False) -> Any:
    from PIL import Image, ImageDraw, ImageFilter

    rng = random.Random(seed)

    def noise(w: int, h: int) -> Any:
        return Image.frombytes("L", (w, h), rng.randbytes(w * h))

    bands = []
    for channel in range(3):
        base = Image.linear_gradient("L").rotate(rng.uniform(0, 360)).crop((48, 48, 208, 208))
        layer = base.resize((width, height), Image.Resampling.BICUBIC)
        # Multi-scale noise: large soft blotches down to fine texture, like a real scene.
        for octave, weight in ((16, 0.35), (64, 0.25), (256, 0.15)):
            w, h = max(2, width * octave // 2048), max(2, height * octave // 2048)
            layer = Image.blend(layer, noise(w, h).resize((width, height), Image.Resampling.BICUBIC), weight)
        bands.append(layer.point([min(255, int(v * (1.1 + 0.1 * channel))) for v in range(256)]))
    im = Image.merge("RGB", bands)
    draw = ImageDraw.Draw(im)
    for _ in range(12):
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(0.02, 0.2) * width
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        if rng.random() < 0.5:
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
        else:
            draw.rectangle(
                (cx - r, cy - r / 2, cx + r, cy + r / 2), outline=colour, width=max(1, int(r / 10))
            )
    im = im.filter(ImageFilter.GaussianBlur(1.2))  # lens softness: no aliased edges
    grain = noise(width, height).point([128 + (v - 128) // 8 for v in range(256)])
    im = Image.blend(im, Image.merge("RGB", (grain, grain, grain)), 0.5).point(
        lambda v: max(0, min(255, v * 2 - 128))
    )
    if alpha:
        mask = Image.radial_gradient("L").resize((width, height)).point(lambda v: 255 - v)
        im.putalpha(mask)
    return im


def make_input(case: Case) -> Path:
    path = INPUTS / f"{case.name}.{case.fmt.lower()}"
    if path.exists():
        return path
    from PIL import Image

    INPUTS.mkdir(parents=True, exist_ok=True)
    im = photo_like(*case.size, seed=sum(map(ord, case.name)), alpha=case.alpha)
    params: dict[str, Any] = {}
    if case.fmt == "JPEG":
        params = {"quality": 85}
        if case.orientation != 1:
            exif = Image.Exif()
            exif[0x0112] = case.orientation
            params["exif"] = exif.tobytes()
    elif case.fmt == "WEBP":
        params = {"quality": 85, "method": 4}
    elif case.fmt == "PNG":
        params = {"compress_level": 6}
    im.save(path, case.fmt, **params)
    tiny = photo_like(*TINY[case.fmt], seed=1, alpha=case.alpha)
    tiny.save(INPUTS / f"tiny_{case.name}.{case.fmt.lower()}", case.fmt, **params)
    return path


# ---------------------------------------------------------------------------------------------
# child: one measurement


def _vmhwm_kib() -> int:
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return -1


def child(method: str, path: str, tiny_path: str) -> None:
    sys.path.insert(0, str(REPO / "layers" / "shared"))
    # Same encoder settings as the pipeline, so both sides do the same WebP work. Imported here,
    # not at the top: the parent stays small (see measure()).
    from imagegen.imaging import (
        PREVIEW_MAX_SIDE,
        PREVIEW_WEBP_METHOD,
        THUMBNAIL_MAX_SIDE,
        THUMBNAIL_WEBP_METHOD,
        WEBP_QUALITY,
    )

    effort = {PREVIEW_MAX_SIDE: PREVIEW_WEBP_METHOD, THUMBNAIL_MAX_SIDE: THUMBNAIL_WEBP_METHOD}
    data = Path(path).read_bytes()
    tiny = Path(tiny_path).read_bytes()
    run: Any
    if method == "ours":
        from imagegen.imaging import process_image

        def run(buf: bytes) -> Any:
            return process_image(buf, max_bytes=MAX_BYTES)

    elif method in ("vips", "vips1"):
        import pyvips  # type: ignore[import-not-found]  # bench-only, ships no type hints

        def webp(image: Any, side: int) -> bytes:
            return bytes(image.webpsave_buffer(Q=WEBP_QUALITY, effort=effort[side], strip=True))

        sides = (PREVIEW_MAX_SIDE, THUMBNAIL_MAX_SIDE)
        if method == "vips":

            def run(buf: bytes) -> Any:
                return [webp(pyvips.Image.thumbnail_buffer(buf, s, height=s, size="down"), s) for s in sides]

        else:

            def run(buf: bytes) -> Any:
                # Sequential decode: render the preview to memory once, then derive from it.
                preview = pyvips.Image.thumbnail_buffer(buf, sides[0], height=sides[0], size="down")
                preview = preview.copy_memory()
                small = preview.thumbnail_image(sides[1], height=sides[1], size="down")
                return [webp(preview, sides[0]), webp(small, sides[1])]

    elif method == "floor":
        from PIL import Image

        def run(buf: bytes) -> Any:
            with Image.open(io.BytesIO(buf)) as im:
                if im.format == "JPEG":
                    longest = max(im.size)
                    scale = min(1.0, 1024 / longest)
                    im.draft("RGB", (max(1, round(im.width * scale)), max(1, round(im.height * scale))))
                im.load()
                return im.size

    else:
        raise SystemExit(f"unknown method {method}")

    run(tiny)
    cpu_before = time.process_time()
    start = time.perf_counter()
    run(data)
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu_before
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps({"wall_s": wall, "cpu_s": cpu, "maxrss_kib": usage.ru_maxrss, "vmhwm_kib": _vmhwm_kib()})
    )


def measure(method: str, path: Path, tiny: Path) -> dict[str, float]:
    # Linux carries ru_maxrss across exec: a child reports at least its parent's peak. This parent
    # never imports Pillow or pyvips and never holds an image, so it stays below every child.
    out = subprocess.run(
        [sys.executable, __file__, "--child", method, str(path), str(tiny)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# ---------------------------------------------------------------------------------------------
# parent


def machine() -> dict[str, Any]:
    cpu_model = "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            cpu_model = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    probe = (
        "import PIL, pyvips, json; "
        "print(json.dumps({'pillow': PIL.__version__, 'pyvips': pyvips.__version__, "
        "'libvips': '%d.%d.%d' % tuple(pyvips.version(i) for i in range(3))}))"
    )
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    versions: dict[str, str] = json.loads(found.stdout) if found.returncode == 0 else {}
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        **versions,
    }


def input_summary(path: Path) -> dict[str, Any]:
    probe = (
        "import sys, json; from PIL import Image; im = Image.open(sys.argv[1]); "
        "print(json.dumps({'width': im.width, 'height': im.height, 'mode': im.mode}))"
    )
    out = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True, check=True)
    return {**json.loads(out.stdout), "bytes": path.stat().st_size}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", default="", help="comma-separated case names")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--out", type=Path, default=RESULTS / "thumbnails.json")
    parser.add_argument("--child", nargs=3, metavar=("METHOD", "INPUT", "TINY"), help=argparse.SUPPRESS)
    parser.add_argument("--make-input", metavar="CASE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.make_input:
        make_input(next(c for c in CASES if c.name == args.make_input))
        return

    wanted = {n for n in args.only.split(",") if n}
    cases = [c for c in CASES if not wanted or c.name in wanted]
    methods = [m for m in args.methods.split(",") if m]
    report: dict[str, Any] = {"machine": machine(), "runs": args.runs, "cases": {}}
    for case in cases:
        # Inputs are made in a child process: the parent stays small, so no child inherits a
        # large ru_maxrss from it.
        subprocess.run([sys.executable, __file__, "--make-input", case.name], check=True)
        path = INPUTS / f"{case.name}.{case.fmt.lower()}"
        tiny = INPUTS / f"tiny_{case.name}.{case.fmt.lower()}"
        entry: dict[str, Any] = {"input": input_summary(path), "methods": {}}
        if not methods:
            continue
        for method in methods:
            samples = [measure(method, path, tiny) for _ in range(args.runs)]
            entry["methods"][method] = {
                "wall_ms": statistics.median(s["wall_s"] for s in samples) * 1000,
                "wall_min_ms": min(s["wall_s"] for s in samples) * 1000,
                "cpu_ms": statistics.median(s["cpu_s"] for s in samples) * 1000,
                "maxrss_mib": statistics.median(s["maxrss_kib"] for s in samples) / 1024,
                "vmhwm_mib": statistics.median(s["vmhwm_kib"] for s in samples) / 1024,
                "samples": samples,
            }
        report["cases"][case.name] = entry
        print_row(case.name, entry, header=case is cases[0])
    if methods:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwritten {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")


def print_row(name: str, entry: dict[str, Any], header: bool) -> None:
    m = entry["methods"]
    if header:
        print(
            f"{'case':<16} {'input':>17} | {'ours ms':>13} {'vips ms':>13} {'x vips':>6} {'x min':>6} "
            f"{'x cpu':>6} | {'vips1':>6} {'floor':>6} | {'ours MiB':>8} {'vips MiB':>8} {'x RSS':>6}"
        )

    def get(method: str, key: str) -> float:
        return float(m[method][key]) if method in m else float("nan")

    def ratio(a: float, b: float) -> float:
        return a / b if b else float("nan")

    info = entry["input"]
    label = f"{info['width']}x{info['height']} {info['bytes'] / 2**20:.1f}M"
    ours, vips = get("ours", "wall_ms"), get("vips", "wall_ms")
    ours_min, vips_min = get("ours", "wall_min_ms"), get("vips", "wall_min_ms")
    ours_rss, vips_rss = get("ours", "maxrss_mib"), get("vips", "maxrss_mib")
    print(
        f"{name:<16} {label:>17} | {ours:6.0f}/{ours_min:<6.0f} {vips:6.0f}/{vips_min:<6.0f} "
        f"{ratio(ours, vips):6.2f} {ratio(ours_min, vips_min):6.2f} "
        f"{ratio(get('ours', 'cpu_ms'), get('vips', 'cpu_ms')):6.2f} | "
        f"{get('vips1', 'wall_ms'):6.0f} {get('floor', 'wall_ms'):6.0f} | "
        f"{ours_rss:8.1f} {vips_rss:8.1f} {ratio(ours_rss, vips_rss):6.2f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
