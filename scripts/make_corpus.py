#!/usr/bin/env python3
"""Assemble the default offline training corpus of colour photographs from Debian packages.

    python scripts/make_corpus.py data/corpus [--unpacked /tmp/corpus-work/unpacked]

Downloads (apt-get download) and unpacks (dpkg -x) the packages in PACKAGES (or reuses
DIR/PKG when --unpacked DIR is given; missing ones are fetched into DIR), collects still
images (plain files, plus pictures inside GCompris Qt resource bundles .rcc, Enlightenment
Eet backgrounds .edj and jigzo puzzles .pzl), and keeps colour photographs only:

1. automatic filter: decodes, min side >= MIN_SIDE, alpha channel unused, colour (at least
   MIN_COLOUR_FRACTION of pixels with Lab chroma > 10, except the reviewed photographs of
   neutral scenes in NEUTRAL_PHOTOS), enough distinct colours;
2. near-duplicates (8x8 mean hash of a 32x32 gray thumbnail, Hamming <= 4) across all
   packages: the largest copy is kept;
3. the explicit per-package INCLUDE lists / EXCLUDE dict below, decided by looking at
   contact sheets of everything that survives 1-2 (drawings, renders, screenshots ...).

Output: OUT/{train,val,test}/*.png (RGB, long side <= --max-side, INTER_AREA),
OUT/manifest.csv (split,file,package,source_path,licence,copyright) and OUT/ATTRIBUTION.md.
The split is fixed by sha1 of the group key (100 buckets): 0-14 val, 15-24 test, rest train.
"""

import argparse
import csv
import fnmatch
import hashlib
import json
import re
import struct
import subprocess
import sys
import zlib
from collections import Counter, defaultdict
from pathlib import Path, PurePosixPath

import cv2
import numpy as np

# package -> sub folder searched for images ("" = whole package)
PACKAGES = {
    "tuxpaint-stamps-default": "usr/share/tuxpaint/stamps",
    "plasma-workspace-wallpapers": "usr/share/wallpapers",
    "mate-backgrounds": "usr/share/backgrounds",
    "opencv-doc": "usr/share/doc/opencv-doc/examples/data",  # still images only, no videos
    "gcompris-qt-data": "usr/share/gcompris-qt",
    "kalzium-data": "",
    "kphotoalbum": "",
    "lxqt-themes": "",
    "tuxpaint-data": "",
    "plasma-workspace-data": "",
    "enlightenment-data": "",
    "lomiri-wallpapers-16.04": "",
    "gnome-control-center-data": "",
    "jigzo-data": "",
    "scribus-template": "",
    "qtdeclarative5-examples": "",
    "palapeli-data": "",
    "renpy-demo": "",
    "python-matplotlib-data": "",
    "wx3.2-examples": "",
    "sddm-theme-maldives": "",
}
IMAGE_EXT = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
SKIP_DIRS = ("usr/share/icons/", "usr/share/pixmaps/")  # application icons, never photos
MIN_SIDE = 128
MIN_COLOUR_FRACTION = 0.05  # pixels with Lab chroma > 10
MIN_UNIQUE_COLOURS = 1500  # in a <= 256x256 nearest-neighbour sample; fewer: flat graphics
HASH_MAX_DIST = 4  # 8x8 mean hash
THUMB_MAX_DIFF = 12.0  # confirmation: mean abs difference of 8x8 colour thumbnails
# (the 8x8 mean hash alone merges unrelated sky-over-land pictures)
CACHE_VERSION = 5

# Decided by looking at contact sheets of the auto-filtered candidates (keys are
# "package:source_path"). INCLUDE: for these packages ONLY the listed keys are kept, because
# most of what survives the automatic filter there is screenshots, UI art or renders.
# EXCLUDE: key -> reason (overlay, painting, diagram, graphic, render, texture, screenshot,
# cut-out).
INCLUDE = {
    'kalzium-data': {
        'kalzium-data:usr/share/kalzium/data/toolpics/abzug.jpg',
        'kalzium-data:usr/share/kalzium/data/toolpics/becherglas.jpg',
        'kalzium-data:usr/share/kalzium/data/toolpics/brechungsmesser.jpg',
        'kalzium-data:usr/share/kalzium/data/toolpics/brenner.jpg',
        'kalzium-data:usr/share/kalzium/data/toolpics/destillierbruecke.jpg',
        'kalzium-data:usr/share/kalzium/data/toolpics/dsc.jpg',
        'kalzium-data:usr/share/kalzium/data/toolpics/erlenmeyerkolben.jpg',
        'kalzium-data:usr/share/kalzium/data/toolpics/exikator.jpg',
        'kalzium-data:usr/share/kalzium/data/toolpics/halter.jpg',
        'kalzium-data:usr/share/kalzium/data/toolpics/heizplatte.jpg',
        'kalzium-data:usr/share/kalzium/data/toolpics/hplc.jpg',
        'kalzium-data:usr/share/kalzium/data/toolpics/korkring.jpg',
        'kalzium-data:usr/share/kalzium/data/toolpics/messzylinder.jpg',
        'kalzium-data:usr/share/kalzium/data/toolpics/moerser.jpg',
        'kalzium-data:usr/share/kalzium/data/toolpics/phpapier.jpg',
        'kalzium-data:usr/share/kalzium/data/toolpics/pileusball.jpg',
        'kalzium-data:usr/share/kalzium/data/toolpics/rg-halter.jpg',
        'kalzium-data:usr/share/kalzium/data/toolpics/rg-staender.jpg',
        'kalzium-data:usr/share/kalzium/data/toolpics/rg.jpg',
        'kalzium-data:usr/share/kalzium/data/toolpics/rotationsverdampfer.jpg',
        'kalzium-data:usr/share/kalzium/data/toolpics/ruehrfisch.jpg',
        'kalzium-data:usr/share/kalzium/data/toolpics/rundkolben.jpg',
        'kalzium-data:usr/share/kalzium/data/toolpics/schutzbrille.jpg',
        'kalzium-data:usr/share/kalzium/data/toolpics/spritzflasche.jpg',
        'kalzium-data:usr/share/kalzium/data/toolpics/thermometer2.jpg',
        'kalzium-data:usr/share/kalzium/data/toolpics/tonschale.jpg',
        'kalzium-data:usr/share/kalzium/data/toolpics/uhrglas.jpg',
        'kalzium-data:usr/share/kalzium/data/toolpics/verteiler.jpg',
        'kalzium-data:usr/share/kalzium/data/toolpics/waage.jpg',
        'kalzium-data:usr/share/kalzium/data/toolpics/wasserstrahlpumpe.jpg',
    },
    'kphotoalbum': {
        'kphotoalbum:usr/share/kphotoalbum/demo/anne_helene.jpg',
        'kphotoalbum:usr/share/kphotoalbum/demo/bar55.jpg',
        'kphotoalbum:usr/share/kphotoalbum/demo/bar55_2.jpg',
        'kphotoalbum:usr/share/kphotoalbum/demo/blackie.jpg',
        'kphotoalbum:usr/share/kphotoalbum/demo/cold_water.jpg',
        'kphotoalbum:usr/share/kphotoalbum/demo/donna.jpg',
        'kphotoalbum:usr/share/kphotoalbum/demo/donna_2.jpg',
        'kphotoalbum:usr/share/kphotoalbum/demo/grand_canyon_1.jpg',
        'kphotoalbum:usr/share/kphotoalbum/demo/jesper.jpg',
        'kphotoalbum:usr/share/kphotoalbum/demo/jesper_2.jpg',
        'kphotoalbum:usr/share/kphotoalbum/demo/new_wave_1.jpg',
        'kphotoalbum:usr/share/kphotoalbum/demo/new_wave_2.jpg',
        'kphotoalbum:usr/share/kphotoalbum/demo/pool.jpg',
        'kphotoalbum:usr/share/kphotoalbum/demo/pool_2.jpg',
        'kphotoalbum:usr/share/kphotoalbum/demo/qt-logo.jpg',
        'kphotoalbum:usr/share/kphotoalbum/demo/snow.jpg',
        'kphotoalbum:usr/share/kphotoalbum/demo/spiff.jpg',
        'kphotoalbum:usr/share/kphotoalbum/demo/spiff_2.jpg',
        'kphotoalbum:usr/share/kphotoalbum/demo/sunset.jpg',
        'kphotoalbum:usr/share/kphotoalbum/demo/wayne.jpg',
        'kphotoalbum:usr/share/kphotoalbum/pics/search.jpg',
    },
    'plasma-workspace-data': {
        'plasma-workspace-data:usr/share/plasma/avatars/photos/Air Balloon.png',
        'plasma-workspace-data:usr/share/plasma/avatars/photos/Astronaut.png',
        'plasma-workspace-data:usr/share/plasma/avatars/photos/Books.png',
        'plasma-workspace-data:usr/share/plasma/avatars/photos/Brushes.png',
        'plasma-workspace-data:usr/share/plasma/avatars/photos/Bulb.png',
        'plasma-workspace-data:usr/share/plasma/avatars/photos/Car.png',
        'plasma-workspace-data:usr/share/plasma/avatars/photos/Cat.png',
        'plasma-workspace-data:usr/share/plasma/avatars/photos/Chameleon.png',
        'plasma-workspace-data:usr/share/plasma/avatars/photos/Cocktail.png',
        'plasma-workspace-data:usr/share/plasma/avatars/photos/Dog.png',
        'plasma-workspace-data:usr/share/plasma/avatars/photos/Fish.png',
        'plasma-workspace-data:usr/share/plasma/avatars/photos/Gamepad.png',
        'plasma-workspace-data:usr/share/plasma/avatars/photos/Owl.png',
        'plasma-workspace-data:usr/share/plasma/avatars/photos/Pancakes.png',
        'plasma-workspace-data:usr/share/plasma/avatars/photos/Parrot.png',
        'plasma-workspace-data:usr/share/plasma/avatars/photos/Pencils.png',
        'plasma-workspace-data:usr/share/plasma/avatars/photos/Shuttle.png',
        'plasma-workspace-data:usr/share/plasma/avatars/photos/Soccer.png',
        'plasma-workspace-data:usr/share/plasma/avatars/photos/Sunflower.png',
        'plasma-workspace-data:usr/share/plasma/avatars/photos/Sushi.png',
    },
    'plasma-workspace-wallpapers': {
        'plasma-workspace-wallpapers:usr/share/wallpapers/BytheWater/contents/images/2560x1600.jpg',
        'plasma-workspace-wallpapers:usr/share/wallpapers/DarkestHour/contents/images/2560x1600.jpg',
        'plasma-workspace-wallpapers:usr/share/wallpapers/EveningGlow/contents/images/2560x1600.jpg',
        'plasma-workspace-wallpapers:usr/share/wallpapers/FallenLeaf/contents/images/2560x1600.jpg',
        'plasma-workspace-wallpapers:usr/share/wallpapers/Kite/contents/images/2560x1600.jpg',
        'plasma-workspace-wallpapers:usr/share/wallpapers/OneStandsOut/contents/images/2560x1600.jpg',
        'plasma-workspace-wallpapers:usr/share/wallpapers/Path/contents/images/2560x1600.jpg',
        'plasma-workspace-wallpapers:usr/share/wallpapers/Volna/contents/images/5120x2880.jpg',
        'plasma-workspace-wallpapers:usr/share/wallpapers/summer_1am/contents/images/2560x1600.jpg',
    },
    'python-matplotlib-data': {
        'python-matplotlib-data:usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg',
    },
    'qtdeclarative5-examples': {
        'qtdeclarative5-examples:usr/lib/x86_64-linux-gnu/qt5/examples/quick/particles/images/backgroundLeaves.jpg',
        'qtdeclarative5-examples:usr/lib/x86_64-linux-gnu/qt5/examples/quick/views/listview/content/pics/fruit-salad.jpg',
        'qtdeclarative5-examples:usr/lib/x86_64-linux-gnu/qt5/examples/quick/views/listview/content/pics/hamburger.jpg',
        'qtdeclarative5-examples:usr/lib/x86_64-linux-gnu/qt5/examples/quick/views/listview/content/pics/pancakes.jpg',
        'qtdeclarative5-examples:usr/lib/x86_64-linux-gnu/qt5/examples/quick/views/listview/content/pics/vegetable-soup.jpg',
    },
    'renpy-demo': {
        'renpy-demo:usr/share/games/renpy/demo/game/images/bg cave.jpg',
        'renpy-demo:usr/share/games/renpy/demo/game/images/bg panorama.webp',
        'renpy-demo:usr/share/games/renpy/demo/game/images/bg whitehouse.jpg',
    },
    'scribus-template': {
        'scribus-template:usr/share/scribus/templates/br2/nature.jpg',
        'scribus-template:usr/share/scribus/templates/br2/sunset.jpg',
        'scribus-template:usr/share/scribus/templates/cal2/moon.jpg',
        'scribus-template:usr/share/scribus/templates/menu1/teriyaki.png',
        'scribus-template:usr/share/scribus/templates/menu2/pizza.jpg',
        'scribus-template:usr/share/scribus/templates/scribus_project_de/craigbradney.jpg',
    },
    'tuxpaint-data': {
        'tuxpaint-data:usr/share/tuxpaint/starters/skyline-sf-dusk-back.jpeg',
        'tuxpaint-data:usr/share/tuxpaint/templates/burnt_bark.jpg',
        'tuxpaint-data:usr/share/tuxpaint/templates/cliff.jpg',
        'tuxpaint-data:usr/share/tuxpaint/templates/corn_maze.jpg',
        'tuxpaint-data:usr/share/tuxpaint/templates/jellyfish.jpg',
        'tuxpaint-data:usr/share/tuxpaint/templates/lighthouse.jpg',
        'tuxpaint-data:usr/share/tuxpaint/templates/mossy_log.jpg',
        'tuxpaint-data:usr/share/tuxpaint/templates/mudstone.jpg',
        'tuxpaint-data:usr/share/tuxpaint/templates/ocean_splash.jpg',
        'tuxpaint-data:usr/share/tuxpaint/templates/ocean_waves.jpg',
        'tuxpaint-data:usr/share/tuxpaint/templates/redwoods_above.jpg',
        'tuxpaint-data:usr/share/tuxpaint/templates/rocks.jpg',
        'tuxpaint-data:usr/share/tuxpaint/templates/spiders_web.jpg',
        'tuxpaint-data:usr/share/tuxpaint/templates/sun_behind_clouds.jpg',
        'tuxpaint-data:usr/share/tuxpaint/templates/sun_behind_leaves.jpg',
        'tuxpaint-data:usr/share/tuxpaint/templates/trees_above.jpg',
        'tuxpaint-data:usr/share/tuxpaint/templates/trees_at_dusk.jpg',
        'tuxpaint-data:usr/share/tuxpaint/templates/wool_mill_machine.jpg',
    },
    'wx3.2-examples': {
        'wx3.2-examples:usr/share/doc/wx3.2-examples/examples/samples/image/horse.jpg',
    },
}
# Photographs of neutral scenes (cutlery and glass on gray studio backdrops, a gray mountain
# at dusk, bark, an eclipse), reviewed by eye, that the colour filter above rejects as gray
# (fewer than MIN_COLOUR_FRACTION colourful pixels). Without them the corpus has no flat
# neutral backdrop, and the U-Net learnt to paint every smooth gradient as sky.
NEUTRAL_PHOTOS = {
    'opencv-doc:usr/share/doc/opencv-doc/examples/data/aero3.jpg',
    'opencv-doc:usr/share/doc/opencv-doc/examples/data/stuff.jpg',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/categorization.rcc:gcompris/src/activities/categorization/resource/images/tools/screwDriver1.webp',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/categorization.rcc:gcompris/src/activities/categorization/resource/images/fishes/fish17.webp',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/categorization.rcc:gcompris/src/activities/categorization/resource/images/others/spoons.webp',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/categorization.rcc:gcompris/src/activities/categorization/resource/images/others/buffetset.webp',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/categorization.rcc:gcompris/src/activities/categorization/resource/images/others/knife.webp',
    'kalzium-data:usr/share/kalzium/data/toolpics/spatel.jpg',
    'kalzium-data:usr/share/kalzium/data/toolpics/trichter.jpg',
    'tuxpaint-data:usr/share/tuxpaint/templates/mossy_bark.jpg',
    'enlightenment-data:usr/share/enlightenment/data/backgrounds/Mountain.edj:jpeg',
    'scribus-template:usr/share/scribus/templates/br2/brightness.jpg',
    'scribus-template:usr/share/scribus/templates/br2/halfmoon.jpg',
    'qtdeclarative5-examples:usr/lib/x86_64-linux-gnu/qt5/examples/quick/customitems/scrollbar/pics/niagara_falls.jpg',
}
EXCLUDE = {
    'jigzo-data:usr/share/games/jigzo/puzzles/00_default/penguin-3x2.pzl:jpeg': 'licence (CC-BY-NC-SA: non-commercial)',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/babyshapes.rcc:gcompris/src/activities/babyshapes/resource/dog2/dog.webp': 'overlay',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/babyshapes.rcc:gcompris/src/activities/babyshapes/resource/image/Bosschaert_04_background.webp': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/babyshapes.rcc:gcompris/src/activities/babyshapes/resource/image/Paul_Gauguin_006_background.webp': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/babyshapes.rcc:gcompris/src/activities/babyshapes/resource/image/Pieter_Bruegel_background.webp': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/babyshapes.rcc:gcompris/src/activities/babyshapes/resource/image/Van_Gogh_0011_background.webp': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/babyshapes.rcc:gcompris/src/activities/babyshapes/resource/image/lady_unicorn_background.webp': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/details.rcc:gcompris/src/activities/details/resource/image/Eglise_dAuvers-sur-Oise_background.webp': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/details.rcc:gcompris/src/activities/details/resource/image/Gogh4_background.webp': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/details.rcc:gcompris/src/activities/details/resource/image/PortraitOfPereTanguy_background.webp': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/details.rcc:gcompris/src/activities/details/resource/image/Van_Gogh_The_Night_Cafe_background.webp': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/details.rcc:gcompris/src/activities/details/resource/image/VincentVanGogh0012_background.webp': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/details.rcc:gcompris/src/activities/details/resource/image/VincentVanGogh0013_background.webp': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/details.rcc:gcompris/src/activities/details/resource/image/VincentVanGogh0019_background.webp': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/details.rcc:gcompris/src/activities/details/resource/image/VincentVanGoghBridge_background.webp': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/paintings.rcc:gcompris/src/activities/paintings/resource/image/bazille_rampart_1.webp': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/paintings.rcc:gcompris/src/activities/paintings/resource/image/bazille_rampart_2.webp': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/paintings.rcc:gcompris/src/activities/paintings/resource/image/bazille_rampart_3.webp': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/paintings.rcc:gcompris/src/activities/paintings/resource/image/bazille_rampart_4.webp': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/paintings.rcc:gcompris/src/activities/paintings/resource/image/bazille_rampart_5.webp': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/paintings.rcc:gcompris/src/activities/paintings/resource/image/bazille_rampart_6.webp': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/paintings.rcc:gcompris/src/activities/paintings/resource/image/cassat_summertime_1.webp': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/paintings.rcc:gcompris/src/activities/paintings/resource/image/cassat_summertime_2.webp': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/paintings.rcc:gcompris/src/activities/paintings/resource/image/cassat_summertime_3.webp': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/paintings.rcc:gcompris/src/activities/paintings/resource/image/cassat_summertime_4.webp': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/paintings.rcc:gcompris/src/activities/paintings/resource/image/cassat_summertime_5.webp': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/paintings.rcc:gcompris/src/activities/paintings/resource/image/cassat_summertime_6.webp': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/paintings.rcc:gcompris/src/activities/paintings/resource/image/gogh_auvert_1.webp': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/paintings.rcc:gcompris/src/activities/paintings/resource/image/gogh_auvert_2.webp': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/paintings.rcc:gcompris/src/activities/paintings/resource/image/gogh_auvert_3.webp': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/paintings.rcc:gcompris/src/activities/paintings/resource/image/gogh_auvert_4.webp': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/paintings.rcc:gcompris/src/activities/paintings/resource/image/gogh_auvert_5.webp': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/paintings.rcc:gcompris/src/activities/paintings/resource/image/gogh_auvert_6.webp': 'painting',
    'mate-backgrounds:usr/share/backgrounds/mate/abstract/Elephants_5640x3172.jpg': 'painting',
    'opencv-doc:usr/share/doc/opencv-doc/examples/data/starry_night.jpg': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/louis-braille.rcc:gcompris/src/activities/louis-braille/resource/chart.webp': 'diagram',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/louis-braille.rcc:gcompris/src/activities/louis-braille/resource/night_printing.webp': 'diagram',
    'jigzo-data:usr/share/games/jigzo/font/charmap.jpg': 'diagram',
    'lomiri-wallpapers-16.04:usr/share/backgrounds/analogpattern_by_Peter_Nerlich.jpg': 'graphic',
    'lomiri-wallpapers-16.04:usr/share/backgrounds/umang_by_Abhishek_Mudgal.jpg': 'graphic',
    'lxqt-themes:usr/share/lxqt/wallpapers/kde-plasma.png': 'graphic',
    'lxqt-themes:usr/share/lxqt/wallpapers/plasma_arch.png': 'graphic',
    'lxqt-themes:usr/share/lxqt/wallpapers/simple_blue_widescreen.png': 'graphic',
    'lxqt-themes:usr/share/lxqt/wallpapers/triangles-logo.png': 'graphic',
    'lxqt-themes:usr/share/lxqt/wallpapers/triangles.png': 'graphic',
    'mate-backgrounds:usr/share/backgrounds/mate/desktop/Ubuntu-Mate-Cold-no-logo.png': 'graphic',
    'mate-backgrounds:usr/share/backgrounds/mate/desktop/Ubuntu-Mate-Dark-no-logo.png': 'graphic',
    'opencv-doc:usr/share/doc/opencv-doc/examples/data/HappyFish.jpg': 'graphic',
    'opencv-doc:usr/share/doc/opencv-doc/examples/data/WindowsLogo.jpg': 'graphic',
    'opencv-doc:usr/share/doc/opencv-doc/examples/data/pic2.png': 'graphic',
    'opencv-doc:usr/share/doc/opencv-doc/examples/data/pic4.png': 'graphic',
    'lomiri-wallpapers-16.04:usr/share/backgrounds/greentock_by_Peter_Nerlich.jpg': 'render',
    'opencv-doc:usr/share/doc/opencv-doc/examples/data/ml.png': 'render',
    'opencv-doc:usr/share/doc/opencv-doc/examples/data/smarties.png': 'render',
    'palapeli-data:usr/share/palapeli/backgrounds/Rear-Admiral-Diplomat-1.jpg': 'texture',
    'palapeli-data:usr/share/palapeli/backgrounds/gon-defends-the-critters-1.jpg': 'texture',
    'palapeli-data:usr/share/palapeli/backgrounds/mahogany-handjob-1.jpg': 'texture',
    'palapeli-data:usr/share/doc/HTML/en/palapeli/puzzletable1.png': 'screenshot',
    'palapeli-data:usr/share/doc/HTML/fr/palapeli/puzzletable1.png': 'screenshot',
    'sddm-theme-maldives:usr/share/sddm/themes/maldives/maldives.jpg': 'screenshot',
    'lomiri-wallpapers-16.04:usr/share/backgrounds/free_by_Peter_Nerlich.jpg': 'render',
    'lxqt-themes:usr/share/lxqt/wallpapers/waves-logo.png': 'graphic',
    'lxqt-themes:usr/share/lxqt/wallpapers/waves-purple-logo.jpg': 'graphic',
    'mate-backgrounds:usr/share/backgrounds/mate/abstract/Elephants.jpg': 'painting',
    'mate-backgrounds:usr/share/backgrounds/mate/abstract/Elephants_3840x2160.jpg': 'painting',
    'mate-backgrounds:usr/share/backgrounds/mate/desktop/Float-into-MATE.png': 'graphic',
    'mate-backgrounds:usr/share/backgrounds/mate/desktop/Ubuntu-Mate-Radioactive-no-logo.png': 'graphic',
    'mate-backgrounds:usr/share/backgrounds/mate/desktop/Ubuntu-Mate-Warm-no-logo.png': 'graphic',
}


# ----------------------------------------------------------------------------- fetching

def fetch(package, dest):
    """apt-get download + dpkg -x into dest/package; None when the package does not exist."""
    debs = Path(dest) / "_debs"
    debs.mkdir(parents=True, exist_ok=True)
    cmd = ["apt-get", "download", package]
    if subprocess.run(cmd, cwd=debs, stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run(["apt-get", "update"], stdout=subprocess.DEVNULL)
        if subprocess.run(cmd, cwd=debs, stdout=subprocess.DEVNULL).returncode != 0:
            return None
    deb = sorted(debs.glob(f"{package}_*.deb"))[-1]
    root = Path(dest) / package
    subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
    return root


# ----------------------------------------------------------------------------- containers

def rcc_files(data):
    """Yield (inner_path, bytes) for every file in a Qt resource bundle."""
    if data[:4] != b"qres":
        return
    version, tree, dat, names = struct.unpack(">IIII", data[4:20])
    esize = 14 if version == 1 else 22

    def name(off):
        (n,) = struct.unpack(">H", data[names + off:names + off + 2])
        return data[names + off + 6:names + off + 6 + 2 * n].decode("utf-16-be")

    def walk(node, prefix):
        e = tree + node * esize
        name_off, flags = struct.unpack(">IH", data[e:e + 6])
        nm = "" if node == 0 else name(name_off)
        path = f"{prefix}/{nm}" if prefix else nm
        if flags & 2:
            count, first = struct.unpack(">II", data[e + 6:e + 14])
            for c in range(first, first + count):
                yield from walk(c, path)
        else:
            (off,) = struct.unpack(">I", data[e + 10:e + 14])
            (n,) = struct.unpack(">I", data[dat + off:dat + off + 4])
            blob = data[dat + off + 4:dat + off + 4 + n]
            if flags & 1:
                blob = zlib.decompress(blob[4:])
            elif flags & 4:
                try:
                    import zstandard
                    blob = zstandard.ZstdDecompressor().decompress(blob)
                except Exception:
                    return
            yield path, blob

    yield from walk(0, "")


def jpeg_size(data, off):
    """(w, h) from the SOF marker of a JPEG starting at off, or None."""
    i, n = off + 2, len(data)
    while i + 9 < n:
        if data[i] != 0xFF:
            return None
        m = data[i + 1]
        if m == 0xFF:
            i += 1
            continue
        if m in (0xD8, 0x01) or 0xD0 <= m <= 0xD7:
            i += 2
            continue
        (ln,) = struct.unpack(">H", data[i + 2:i + 4])
        if m in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return w, h
        i += 2 + ln
    return None


def largest_embedded_jpeg(data):
    """Bytes of the largest JPEG embedded in data that decodes, or None."""
    offs = [m.start() for m in re.finditer(b"\xff\xd8\xff", data)]
    cands = []
    for k, off in enumerate(offs):
        size = jpeg_size(data, off)
        if size:
            cands.append((size[0] * size[1], off))
    for _, off in sorted(cands, reverse=True):
        blob = data[off:]
        if cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_COLOR) is not None:
            return blob
    return None


def first_embedded_jpeg(data):
    """Bytes from the first JPEG SOI in data that decodes, or None."""
    for m in re.finditer(b"\xff\xd8\xff", data):
        blob = data[m.start():]
        if cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_COLOR) is not None:
            return blob
    return None


def candidates(package, root, sub):
    """Yield (source_path, licence_path, loader) for every still image of a package."""
    base = root / sub if sub else root
    for path in sorted(base.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        rel = path.relative_to(root).as_posix()
        if rel.startswith(SKIP_DIRS):
            continue
        ext = path.suffix.lower()
        if ext in IMAGE_EXT:
            yield rel, rel, (lambda p=path: p.read_bytes()), path.stat().st_size
        elif ext == ".rcc":
            data = path.read_bytes()
            for inner, blob in rcc_files(data):
                if Path(inner).suffix.lower() in IMAGE_EXT:
                    yield f"{rel}:{inner}", rel, (lambda b=blob: b), len(blob)
        elif ext == ".edj":  # several sizes of one photo: the largest
            yield f"{rel}:jpeg", rel, (lambda p=path: largest_embedded_jpeg(p.read_bytes())), \
                path.stat().st_size
        elif ext == ".pzl":  # first JPEG: the whole picture; the big one is a piece atlas
            yield f"{rel}:jpeg", rel, (lambda p=path: first_embedded_jpeg(p.read_bytes())), \
                path.stat().st_size


# ----------------------------------------------------------------------------- analysis

def decode(blob):
    if not blob:
        return None
    try:
        img = cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        return None
    if img is None:
        return None
    if img.dtype == np.uint16:
        img = (img // 257).astype(np.uint8)
    return img


def analyse(img, min_colour=MIN_COLOUR_FRACTION):
    """Stats dict; reason is None when the automatic filter passes."""
    h, w = img.shape[:2]
    st = {"w": w, "h": h, "reason": None}
    if min(h, w) < MIN_SIDE:
        st["reason"] = "small"
        return st
    if img.ndim == 2 or img.shape[2] == 1:
        st["reason"] = "gray"
        return st
    if img.shape[2] == 4:
        if float((img[..., 3] < 250).mean()) > 0.001:
            st["reason"] = "alpha"
            return st
        img = img[..., :3]
    lab = cv2.cvtColor(img, cv2.COLOR_BGR2Lab).astype(np.float32)
    chroma = np.hypot(lab[..., 1] - 128.0, lab[..., 2] - 128.0)
    if float((chroma > 10.0).mean()) < min_colour:
        st["reason"] = "gray"
        return st
    sy, sx = max(1, h // 256), max(1, w // 256)
    sample = np.ascontiguousarray(img[::sy, ::sx]).reshape(-1, 3)
    uniq = len(np.unique(sample.view(np.dtype((np.void, 3)))))
    st["unique"] = uniq
    if uniq < MIN_UNIQUE_COLOURS:
        st["reason"] = "few-colours"
        return st
    st["hash"], thumb = perceptual_keys(img)
    st["thumb"] = thumb.astype(int).ravel().tolist()
    return st


def perceptual_keys(bgr):
    """(8x8 mean hash of a 32x32 gray thumbnail, 8x8 colour thumbnail) of a BGR uint8
    picture: what near_duplicate compares."""
    g = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), (32, 32), interpolation=cv2.INTER_AREA)
    g8 = cv2.resize(g, (8, 8), interpolation=cv2.INTER_AREA)
    bits = int("".join("1" if b else "0" for b in (g8 > g8.mean()).flatten()), 2)
    return bits, cv2.resize(bgr, (8, 8), interpolation=cv2.INTER_AREA).astype(np.float32)


def near_duplicate(a, b):
    """Whether two pictures' (hash, thumbnail) name the same picture."""
    (ha, ta), (hb, tb) = a, b
    return (bin(ha ^ hb).count("1") <= HASH_MAX_DIST
            and float(np.abs(ta - tb).mean()) <= THUMB_MAX_DIFF)


def to_rgb(img):
    if img.shape[2] == 4:
        img = img[..., :3]
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


# ----------------------------------------------------------------------------- licences

def parse_copyright(path):
    """[(globs, copyright, licence)] for DEP-5, else [(["*"], copyright, licence)]."""
    if not path.exists():
        return [(["*"], "unknown", "unknown")]
    text = path.read_text(errors="replace")
    if text.lstrip().startswith("Format:"):
        out = []
        for para in re.split(r"\n\s*\n", text):
            fields, cur = {}, None
            for line in para.splitlines():
                if line[:1] in (" ", "\t") and cur:
                    fields[cur].append(line.strip())
                elif ":" in line and not line.startswith("#"):
                    cur, val = line.split(":", 1)
                    cur = cur.strip().lower()
                    fields[cur] = [val.strip()]
            if "files" in fields:
                globs = " ".join(fields["files"]).split()
                cr = "; ".join(x for x in fields.get("copyright", []) if x and x != ".")
                lic = (fields.get("license") or ["unknown"])[0]
                if not lic:  # licence given only as text
                    body = " ".join(fields.get("license", []))
                    lic = ("Matplotlib (PSF-based, BSD-compatible)" if "matplotlib" in body.lower()
                           else "custom (see copyright file)")
                out.append((globs, cr, lic))
        return out or [(["*"], "unknown", "unknown")]
    # not machine-readable: package-wide licence and holders
    lic = "unknown"
    for pat, name in [(r"GPL-?3|General Public License.{0,40}version 3", "GPL-3+"),
                      (r"LGPL|Lesser General Public", "LGPL"),
                      (r"GPL|General Public License", "GPL-2+"),
                      (r"Creative Commons|CC-BY", "CC-BY"),
                      (r"BSD", "BSD"), (r"MIT", "MIT")]:
        if re.search(pat, text, re.S):
            lic = name
            break
    if re.search(r"General Public License.{0,120}version 2 of the License, or", text, re.S):
        lic = "GPL-2+"
    if "License agreement for matplotlib" in text:
        lic = "Matplotlib (PSF-based, BSD-compatible)"
    m = re.search(r"^\s*License:[ \t]*(\S.*)$", text, re.M | re.I)
    if m and len(m.group(1).strip()) <= 40:
        lic = m.group(1).strip()
    holders = [re.sub(r"\s+", " ", l).strip() for l in text.splitlines()
               if re.search(r"(copyright|©|\(c\))\s*\d", l, re.I) or re.match(r"\s*©", l)]
    return [(["*"], "; ".join(dict.fromkeys(holders)) or "see copyright file", lic)]


def _match(paras, rel):
    """Index of the last DEP-5 paragraph whose glob matches rel or a trailing part of it;
    failing that (installed paths differ from source paths), one whose glob's last
    component matches the file name. -1 when nothing matches."""
    parts = rel.split("/")
    tails = ["/".join(parts[i:]) for i in range(len(parts))]
    best = -1
    for i, (globs, _, _) in enumerate(paras):
        if any(fnmatch.fnmatchcase(t, g) for g in globs for t in tails):
            best = i
    if best <= 0 or paras[best][0] == ["*"]:
        for i, (globs, _, _) in enumerate(paras):
            if any(g.split("/")[-1] not in ("*", "*.*") and fnmatch.fnmatchcase(parts[-1], g.split("/")[-1])
                   for g in globs):
                best = max(best, i)
    return best


def licence_for(paras, rel, inner=None):
    """(licence, copyright) for an installed file; for a file inside a container, the
    container's entry unless the inner (source-tree) path has a more specific one."""
    best = _match(paras, rel)
    if inner:
        best = max(best, _match(paras, inner))
    if best < 0:
        return "unknown", "unknown"
    return paras[best][2], paras[best][1]


# ----------------------------------------------------------------------------- main

def group_key(package, rel):
    """Name shared by all resolutions of one picture; rel is relative to the package's
    PACKAGES folder (str or Path; "container:inner" for pictures inside a container)."""
    rel = PurePosixPath(str(rel))
    if package == "plasma-workspace-wallpapers":
        return f"{package}/{rel.parts[0]}"  # Name/contents/images/1920x1080.jpg
    stem = re.sub(r"[_-]?\d{3,5}x\d{3,5}$", "", rel.with_suffix("").as_posix())
    return f"{package}/{stem}"


def bucket(key):
    return int(hashlib.sha1(key.encode()).hexdigest(), 16) % 100


def in_val(key, percent=15):
    return bucket(key) < percent


def split_of(key):
    b = bucket(key)
    return "val" if b < 15 else "test" if b < 25 else "train"


def safe_name(key):
    return re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("_")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--unpacked", type=Path, default=Path("/tmp/corpus-work/unpacked"),
                    help="folder with the packages unpacked, one subfolder each (reused)")
    ap.add_argument("--max-side", type=int, default=512)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/corpus-work/analysis.json"))
    ap.add_argument("--sheets", type=Path, help="write contact sheets of survivors here")
    ap.add_argument("--list-duplicates", action="store_true")
    args = ap.parse_args(argv)

    cache = {}
    if args.cache.exists():
        cache = json.loads(args.cache.read_text())
        if cache.get("_version") != CACHE_VERSION:
            cache = {}
    cache["_version"] = CACHE_VERSION

    missing, items, stats = [], [], defaultdict(Counter)
    licences = {}
    for package, sub in PACKAGES.items():
        root = args.unpacked / package
        if not root.exists():
            root = fetch(package, args.unpacked)
            if root is None:
                missing.append(package)
                print(f"{package}: not in this Debian release", file=sys.stderr)
                continue
        licences[package] = parse_copyright(root / "usr/share/doc" / package / "copyright")
        for src, lic_path, load, size in candidates(package, root, sub):
            key = f"{package}:{src}"
            stats[package]["candidates"] += 1
            neutral = key in NEUTRAL_PHOTOS
            ck = f"{key}|{size}" + ("|neutral" if neutral else "")
            st = cache.get(ck)
            if st is None:
                img = decode(load())
                st = ({"w": 0, "h": 0, "reason": "undecodable"} if img is None
                      else analyse(img, min_colour=0.0 if neutral else MIN_COLOUR_FRACTION))
                cache[ck] = st
            items.append({"key": key, "package": package, "src": src, "lic_path": lic_path,
                          "root": str(root), "load": load, **st})
    args.cache.parent.mkdir(parents=True, exist_ok=True)
    args.cache.write_text(json.dumps(cache))

    # near-duplicates over all auto-filter survivors and packages: keep the largest copy
    ok = [it for it in items if it["reason"] is None]
    ok.sort(key=lambda it: (-it["w"] * it["h"], it["key"]))
    kept_hashes = []
    for it in ok:
        keys = (it["hash"], np.array(it["thumb"], np.float32))
        dup = next((k for h, t, k in kept_hashes if near_duplicate(keys, (h, t))), None)
        if dup:
            it["reason"] = "duplicate"
            it["dup_of"] = dup
        else:
            kept_hashes.append((*keys, it["key"]))
    # manual review (explicit lists at the top); duplicates of an excluded picture stay out
    for it in ok:
        if it["reason"]:
            continue
        if it["package"] in INCLUDE:
            if it["key"] not in INCLUDE[it["package"]] | NEUTRAL_PHOTOS:
                it["reason"] = "not-photo"
        elif it["key"] in EXCLUDE:
            it["reason"] = EXCLUDE[it["key"]]
    if args.list_duplicates:
        for it in ok:
            if it.get("dup_of"):
                print(f"DUP\t{it['key']}\t{it['dup_of']}", file=sys.stderr)
    for it in items:
        stats[it["package"]][it["reason"] or "kept"] += 1

    final = sorted((it for it in ok if it["reason"] is None), key=lambda it: it["key"])
    if args.sheets:
        write_sheets(final, args.sheets)

    rows, names = [], set()
    for it in final:
        img = decode(it["load"]())
        rgb = to_rgb(img)
        h, w = rgb.shape[:2]
        if max(h, w) > args.max_side:
            s = args.max_side / max(h, w)
            rgb = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))),
                             interpolation=cv2.INTER_AREA)
        sub = PACKAGES[it["package"]]
        gk = group_key(it["package"], it["src"][len(sub) + 1:] if sub else it["src"])
        split = split_of(gk)
        name = safe_name(it["key"])[:150]
        while name in names:
            name += "_"
        names.add(name)
        dst = args.out / split / f"{name}.png"
        dst.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(dst), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        inner = it["src"].split(":", 1)[1] if ":" in it["src"] else None
        lic, cr = licence_for(licences[it["package"]], it["lic_path"],
                              inner if inner and inner != "jpeg" else None)
        rows.append((split, f"{split}/{name}.png", it["package"], it["src"], lic, cr))

    # remove stale files from earlier runs
    want = {r[1] for r in rows}
    for split in ("train", "val", "test"):
        for f in (args.out / split).glob("*.png") if (args.out / split).exists() else []:
            if f"{split}/{f.name}" not in want:
                f.unlink()
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "manifest.csv", "w", newline="") as f:
        csv.writer(f).writerows(
            [("split", "file", "package", "source_path", "licence", "copyright"), *sorted(rows)])
    write_attribution(args.out / "ATTRIBUTION.md", rows, missing)

    order = ["candidates", "kept", "duplicate", "small", "alpha", "gray", "few-colours",
             "undecodable"]
    for package in PACKAGES:
        if package in missing:
            continue
        c = stats[package]
        extra = ", ".join(f"{k} {v}" for k, v in sorted(c.items()) if k not in order[:2] and v)
        print(f"{package}: {c['candidates']} candidates, {c['kept']} kept; excluded: {extra}",
              file=sys.stderr)
    n = Counter(r[0] for r in rows)
    print(f"{n['train']} train, {n['val']} val, {n['test']} test images in {args.out}"
          + (f"; missing packages: {', '.join(missing)}" if missing else ""), file=sys.stderr)


def write_attribution(path, rows, missing):
    by_pkg = defaultdict(list)
    for r in rows:
        by_pkg[r[2]].append(r)
    lines = ["# Attribution for the filmcolor training corpus", "",
             "All images come from Debian packages; licence and copyright per image are in",
             "manifest.csv (taken from usr/share/doc/PKG/copyright).", ""]
    for pkg in sorted(by_pkg):
        rs = by_pkg[pkg]
        lines += [f"## {pkg} ({len(rs)} images)", ""]
        groups = defaultdict(int)
        for r in rs:
            groups[(r[4], r[5])] += 1
        for (lic, cr), k in sorted(groups.items()):
            lines.append(f"- {k} image(s), licence **{lic}**, copyright: {cr}")
        lines.append("")
    if missing:
        lines += ["Packages not available in this Debian release: " + ", ".join(missing), ""]
    path.write_text("\n".join(lines))


def write_sheets(final, outdir, cols=6, rows=5, t=160):
    outdir.mkdir(parents=True, exist_ok=True)
    for f in outdir.glob("*.png"):
        f.unlink()
    index = []
    per = cols * rows
    for s in range(0, len(final), per):
        sheet = np.full((rows * (t + 4), cols * (t + 4), 3), 40, np.uint8)
        for i, it in enumerate(final[s:s + per]):
            img = to_rgb(decode(it["load"]()))
            h, w = img.shape[:2]
            k = t / max(h, w)
            img = cv2.resize(img, (max(1, int(w * k)), max(1, int(h * k))),
                             interpolation=cv2.INTER_AREA)
            y, x = (i // cols) * (t + 4), (i % cols) * (t + 4)
            sheet[y:y + img.shape[0], x:x + img.shape[1]] = img
            num = str(s + i)
            cv2.putText(sheet, num, (x + 3, y + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 3)
            cv2.putText(sheet, num, (x + 3, y + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                        (255, 255, 0), 1)
            index.append(f"{s + i}\t{it['key']}\t{it['w']}x{it['h']}")
        cv2.imwrite(str(outdir / f"sheet_{s // per:03d}.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    (outdir / "index.tsv").write_text("\n".join(index) + "\n")


if __name__ == "__main__":
    main()
