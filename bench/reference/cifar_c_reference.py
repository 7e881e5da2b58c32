"""CIFAR-10-C reference images for bench/corruptions.ts: every bundled CIFAR-10 test image (data/datasets,
1,000 images, file-name order) corrupted at every severity with the published formulas, by NumPy/SciPy
(noise, blur, contrast) and PIL (JPEG), stored as np.uint8 as the CIFAR-10-C script stores them.

    /usr/bin/python3 bench/reference/cifar_c_reference.py pil OUTDIR     # decode inputs (PIL), JPEG refs
    python3 bench/reference/cifar_c_reference.py numpy OUTDIR            # noise (np.random.seed(1000 + i)), blur, contrast
"""
import io, os, sys, tarfile
import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
NOISE = [0.04, 0.06, .08, .09, .10]
BLUR = [.4, .6, 0.7, .8, 1]
CONTRAST = [.75, .5, .4, .3, 0.15]
QUALITY = [80, 65, 58, 50, 40]


def pil(out):
    from PIL import Image
    t = tarfile.open(os.path.join(ROOT, 'data', 'datasets', 'cifar10-test.tar'))
    names = sorted(m.name for m in t.getmembers() if m.isfile() and m.name.endswith('.jpg'))
    imgs = np.stack([np.array(Image.open(io.BytesIO(t.extractfile(n).read())).convert('RGB')) for n in names])
    imgs.tofile(os.path.join(out, 'inputs.u8'))
    for s, q in enumerate(QUALITY, 1):
        res = []
        for a in imgs:
            buf = io.BytesIO()
            Image.fromarray(a).save(buf, 'JPEG', quality=q)
            res.append(np.array(Image.open(buf)))
        np.stack(res).tofile(os.path.join(out, f'jpeg_compression_{s}.u8'))


def numpy_refs(out):
    from scipy.ndimage import gaussian_filter
    imgs = np.fromfile(os.path.join(out, 'inputs.u8'), np.uint8).reshape(-1, 32, 32, 3)
    for s in range(1, 6):
        noise, blur, contrast = [], [], []
        for i, img in enumerate(imgs):
            x = img / 255.
            np.random.seed(1000 + i)
            noise.append(np.uint8(np.clip(x + np.random.normal(size=x.shape, scale=NOISE[s - 1]), 0, 1) * 255))
            blur.append(np.uint8(np.clip(gaussian_filter(x, sigma=(BLUR[s - 1], BLUR[s - 1], 0), mode='nearest', truncate=4.0), 0, 1) * 255))
            means = np.mean(x, axis=(0, 1), keepdims=True)
            contrast.append(np.uint8(np.clip((x - means) * CONTRAST[s - 1] + means, 0, 1) * 255))
        np.stack(noise).tofile(os.path.join(out, f'gaussian_noise_{s}.u8'))
        np.stack(blur).tofile(os.path.join(out, f'gaussian_blur_{s}.u8'))
        np.stack(contrast).tofile(os.path.join(out, f'contrast_{s}.u8'))


if __name__ == '__main__':
    os.makedirs(sys.argv[2], exist_ok=True)
    {'pil': pil, 'numpy': numpy_refs}[sys.argv[1]](sys.argv[2])
