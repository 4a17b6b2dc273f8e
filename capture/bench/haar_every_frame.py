#!/usr/bin/env python3
"""The baseline the capture pipeline is measured against: a plain
Python/OpenCV script that runs the Haar frontal-face cascade on every frame
of a clip at full resolution, keeps the largest face and writes one
960x720 crop. It prints one JSON line with the CPU time of the loop.

usage: haar_every_frame.py CLIP [--cascade PATH] [--out crop.jpg]
Needs python3-opencv (Debian) and opencv-data's cascades.
"""
import argparse
import json
import sys
import time

import cv2

p = argparse.ArgumentParser()
p.add_argument("clip")
p.add_argument("--cascade", default="/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml")
p.add_argument("--out", default="")
a = p.parse_args()

cascade = cv2.CascadeClassifier(a.cascade)
if cascade.empty():
    sys.exit(f"cannot load cascade {a.cascade}")
cap = cv2.VideoCapture(a.clip)
if not cap.isOpened():
    sys.exit(f"cannot open {a.clip}")

start = time.process_time()
best, best_frame, best_img, n = None, -1, None, 0
while True:
    ok, frame = cap.read()
    if not ok:
        break
    grey = cv2.equalizeHist(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
    # The parameters of the data set's MANIFEST (1.1, 5, 20x20).
    faces = cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(20, 20))
    for (x, y, w, h) in faces:
        if best is None or w > best[2]:
            best, best_frame, best_img = (int(x), int(y), int(w), int(h)), n, frame.copy()
    n += 1
crop = None
if best is not None:
    x, y, w, h = best
    bw = min(3 * w, best_img.shape[1], best_img.shape[0] * 4 // 3)
    bh = bw * 3 // 4
    x0 = min(max(x + w // 2 - bw // 2, 0), best_img.shape[1] - bw)
    y0 = min(max(y - int(0.6 * h), 0), best_img.shape[0] - bh)
    out = cv2.resize(best_img[y0:y0 + bh, x0:x0 + bw], (960, 720), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if a.out:
        with open(a.out, "wb") as f:
            f.write(buf.tobytes())
    crop = [x0, y0, bw, bh]
cpu = time.process_time() - start
print(json.dumps({"frames": n, "frame": best_frame, "face": best, "crop": crop, "cpu_seconds": round(cpu, 3)}))
