"""Draw docs/img/synthme_faces.png: SynthME faces and their apex motion.

Usage:
    .venv/bin/python examples/synthme_figure.py --synth /tmp/synth-small --out docs/img/synthme_faces.png

``--synth`` is a folder written by ``merkit synth --preset small``. For four clips (positive,
negative, surprise; all three sources) the figure shows the onset frame as written to disk (noise,
compression, grey SAMM), the class-AU displacement at the apex (arrows, x6, on the noise-free apex)
and the magnitude of the full ground truth field (head motion, blink and habit included; colour
scale 0-4 px).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from merkit.synth import dense_field
from merkit.synth.actions import Blob


def _panel(img: np.ndarray) -> np.ndarray:
    img = img if img.ndim == 3 else cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    return cv2.resize(img, (150, int(round(150 * img.shape[0] / img.shape[1]))), interpolation=cv2.INTER_AREA)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--synth", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("docs/img/synthme_faces.png"))
    args = parser.parse_args()
    rows = []
    lines = (args.synth / "_groundtruth" / "clips.csv").read_text().splitlines()
    header = lines[0].split(",")
    clips = [dict(zip(header, line.split(","))) for line in lines[1:]]
    picked = []  # one clip per (source, class) pair below, first in sheet order
    for source, cls in (("casme2", "positive"), ("samm", "negative"), ("smic_hs", "surprise"), ("casme2", "negative")):
        picked += [c for c in clips if c["dataset"] == source and c["class"] == cls][:1]
    for c in picked:
        gt = args.synth / "_groundtruth" / c["dataset"] / c["subject"] / c["clip"]
        meta = json.loads((gt / "clip.json").read_text())
        if c["dataset"] == "casme2":
            onset_disk = args.synth / "CASME2/CASME2_RAW_selected" / c["subject"] / c["clip"] / f"img{c['onset']}.jpg"
        elif c["dataset"] == "samm":
            onset_disk = (args.synth / "SAMM/SAMM" / c["subject"] / c["clip"]
                          / f"{c['subject']}_{int(c['onset']):05d}.jpg")
        else:
            onset_disk = next((args.synth / "SMIC/SMIC_all_raw/HS" / c["subject"] / "micro").glob(
                f"*/{c['clip']}/image{int(c['onset']):06d}.bmp"))
        frame = cv2.imread(str(onset_disk), cv2.IMREAD_UNCHANGED)
        apex = cv2.imread(str(gt / "apex_clean.png"), cv2.IMREAD_COLOR)
        h, w = apex.shape[:2]
        blobs = [Blob((b[0], b[1]), (b[2], b[3]), b[4]) for b in meta["au_blobs"]]
        au = dense_field(blobs, (h, w))
        arrows = apex.copy()
        for y in range(4, h, 6):
            for x in range(4, w, 6):
                u, v = au[y, x]
                if np.hypot(u, v) > 0.15:
                    cv2.arrowedLine(arrows, (x, y), (int(round(x + 6 * u)), int(round(y + 6 * v))), (0, 255, 255), 1,
                                    cv2.LINE_AA, tipLength=0.3)
        total = np.linalg.norm(np.load(gt / "flow_onset_apex.npy"), axis=2)
        heat = cv2.applyColorMap(np.clip(total / 4.0 * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
        row = np.concatenate([_panel(frame), _panel(arrows), _panel(heat)], 1)
        label = f"{c['dataset']} {c['subject']}/{c['clip']}: {c['class']}, AU {c['action_units']}"
        bar = np.full((18, row.shape[1], 3), 255, np.uint8)
        cv2.putText(bar, label, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        rows.append(np.concatenate([bar, row], 0))
    width = max(r.shape[1] for r in rows)
    grid = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), grid, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
