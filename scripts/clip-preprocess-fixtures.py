"""Writes the fixtures of test/model/llava-preprocess.test.ts into test/fixtures/clip-preprocess/.

For each test image this script draws (deterministically, from fixed seeds) it saves the image
itself (`<name>.png`, or `.jpg`) and what Hugging Face's slow `CLIPImageProcessor` makes of it
with LLaVA-1.5's preprocessor_config.json (shortest_edge 336, crop 336x336, resample 3 = bicubic)
after its resize and centre crop, before rescale and normalisation: `<name>.crop.png`, a lossless
336x336 RGB PNG. `manifest.json` lists the images with their sizes and the size after resizing.

The resize and crop are reimplemented here with PIL alone (no transformers, no numpy), following
transformers' `image_processing_clip.py` and `image_transforms.py`:
  - convert_to_rgb: `Image.convert("RGB")` (alpha dropped, greyscale replicated);
  - get_resize_output_image_size(default_to_square=False): the shortest side becomes
    shortest_edge, the other int(shortest_edge * long / short), truncated;
  - resize: `Image.resize((w, h), Image.BICUBIC)`, on uint8 RGB;
  - center_crop: top = (h - crop_h) // 2, left = (w - crop_w) // 2, zero padding where the
    image is smaller than the crop.

Run from the repository root with Debian's PIL (apt-get install -y python3-pil):
    /usr/bin/python3 scripts/clip-preprocess-fixtures.py
Its output is byte-for-byte the same on every run with the same Pillow version (written with 9.4.0).
"""

import json
import math
import os
import random

from PIL import Image

OUT = os.path.join("test", "fixtures", "clip-preprocess")
SHORTEST_EDGE = 336
CROP = (336, 336)  # (height, width)


def smooth(width, height, seed):
    """Gradients, a disc and a few hard-edged bars: the kind of content photos have."""
    rnd = random.Random(seed)
    cx, cy, r = rnd.uniform(0.3, 0.7) * width, rnd.uniform(0.3, 0.7) * height, min(width, height) / 4
    px = bytearray()
    for y in range(height):
        for x in range(width):
            red = int(255 * x / max(1, width - 1))
            green = int(255 * y / max(1, height - 1))
            blue = 128 + int(100 * math.sin(x / 17.0) * math.cos(y / 23.0))
            if (x - cx) ** 2 + (y - cy) ** 2 < r * r:
                red, green, blue = 250, 240, 20
            if (x // 40) % 5 == 0 and y % 97 < 12:
                red, green, blue = 10, 10, 10
            px += bytes((red, green, blue))
    return Image.frombytes("RGB", (width, height), bytes(px))


def detailed(width, height, seed):
    """One-pixel checkerboards, thin lines and noise: where a resampler's antialiasing shows."""
    rnd = random.Random(seed)
    px = bytearray()
    for y in range(height):
        for x in range(width):
            if x < width // 3:
                v = 255 if (x + y) % 2 else 0
                rgb = (v, 255 - v, v)
            elif x < 2 * width // 3:
                rgb = (255 if x % 3 == 0 else 30, 200 if y % 4 == 0 else 60, (x * y) % 256)
            else:
                base = (x + 2 * y) % 256
                rgb = tuple(max(0, min(255, base + rnd.randint(-60, 60))) for _ in range(3))
            px += bytes(rgb)
    return Image.frombytes("RGB", (width, height), bytes(px))


def grey(width, height, seed):
    rnd = random.Random(seed)
    px = bytes(
        max(0, min(255, (x * 3 + y * 2) % 256 + (40 if (x // 25 + y // 25) % 2 else 0) + rnd.randint(-5, 5)))
        for y in range(height)
        for x in range(width)
    )
    return Image.frombytes("L", (width, height), px)


def rgba(width, height, seed):
    """Alpha varies, and fully transparent pixels keep colours: convert("RGB") must keep them too."""
    colour = smooth(width, height, seed)
    alpha = Image.frombytes("L", (width, height), bytes((x * 255 // width) if y % 50 > 10 else 0
                                                        for y in range(height) for x in range(width)))
    colour.putalpha(alpha)
    return colour


# (name, image, format): sizes cover no resize, both orientations, downscale with detail, upscale,
# a long image whose short side shrinks by one pixel, greyscale, alpha, and a JPEG.
IMAGES = [
    ("square-336", lambda: smooth(336, 336, 1), "png"),
    ("landscape-500x375", lambda: smooth(500, 375, 2), "png"),
    ("portrait-375x500", lambda: smooth(375, 500, 3), "png"),
    ("detail-640x480", lambda: detailed(640, 480, 4), "png"),
    ("upscale-100x80", lambda: detailed(100, 80, 5), "png"),
    ("tall-337x1000", lambda: smooth(337, 1000, 6), "png"),
    ("grey-400x300", lambda: grey(400, 300, 7), "png"),
    ("rgba-300x450", lambda: rgba(300, 450, 8), "png"),
    ("photo-512x384", lambda: smooth(512, 384, 9), "jpg"),
]


def resize_output_size(width, height, shortest_edge):
    """(width, height) after transformers' get_resize_output_image_size(default_to_square=False)."""
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = shortest_edge, int(shortest_edge * long / short)
    return (new_short, new_long) if width <= height else (new_long, new_short)


def center_crop(image, crop_height, crop_width):
    """transformers' center_crop: floor-centred, zero-padded where the image is too small."""
    width, height = image.size
    top, left = (height - crop_height) // 2, (width - crop_width) // 2
    out = Image.new("RGB", (crop_width, crop_height), (0, 0, 0))
    out.paste(image, (-left, -top))
    return out


def clip_resize_crop(image):
    image = image.convert("RGB") if image.mode != "RGB" else image
    size = resize_output_size(image.width, image.height, SHORTEST_EDGE)
    resized = image.resize(size, Image.BICUBIC)
    return resized, center_crop(resized, *CROP)


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = []
    for name, draw, fmt in IMAGES:
        path = os.path.join(OUT, f"{name}.{fmt}")
        if fmt == "png":
            draw().save(path, optimize=True)
        else:
            draw().save(path, quality=90)
        # The expected output is computed from the file as decoded, as the processor would see it.
        with Image.open(path) as decoded:
            decoded.load()
            resized, crop = clip_resize_crop(decoded)
            mode = decoded.mode
            size = decoded.size
        crop.save(os.path.join(OUT, f"{name}.crop.png"), optimize=True)
        manifest.append({"name": name, "file": f"{name}.{fmt}", "mode": mode, "width": size[0], "height": size[1],
                         "resized": {"width": resized.width, "height": resized.height},
                         "crop": f"{name}.crop.png"})
    config = {"shortest_edge": SHORTEST_EDGE, "crop_size": {"height": CROP[0], "width": CROP[1]}, "resample": 3}
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump({"config": config, "images": manifest}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
