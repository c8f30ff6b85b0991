"""Measuring colour against the originals: `filmcolor eval`.

    metrics.py  PSNR, SSIM, AuC of ab error, colourfulness, ab flicker (warping error)
    photos.py   a folder of colour photos: every model beside gray, per-image table
    films.py    a colour film: per-frame scores with and without temporal smoothing
"""
