"""click commands: parse, build options, call one library function. No logic lives here."""

import logging
from pathlib import Path

import click

from . import __version__
from .options import (DEFAULT_BATCH_SIZE, DEFAULT_FILM_RENDER_SIZE, DEFAULT_RENDER_SIZE,
                      DEFAULT_SATURATION, MAX_PIXELS, SEGMENT_SECONDS, ColorizeOptions,
                      FilmOptions)
from .options import FILM_DEFAULTS as F
from .recipes import ENCODER_MODELS, RECIPES, default_help

log = logging.getLogger("filmcolor")


class DefaultGroup(click.Group):
    """`filmcolor IN OUT` means `filmcolor colorize IN OUT`."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = ["colorize", *args]
        return super().parse_args(ctx, args)


class Seconds(click.ParamType):
    """A time as seconds (12.5) or [HH:]MM:SS[.ms] (1:02:03.5)."""

    name = "time"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)):
            return float(value)
        try:
            parts = [float(p) for p in str(value).split(":")]
            if len(parts) > 3 or any(p < 0 for p in parts):
                raise ValueError
        except ValueError:
            self.fail(f"{value!r} is not a time (seconds, or [HH:]MM:SS)", param, ctx)
        total = 0.0
        for p in parts:
            total = total * 60 + p
        return total


def _logging_options(f):
    f = click.option("-q", "--quiet", is_flag=True, help="Only errors; no progress bar.")(f)
    f = click.option("-v", "--verbose", is_flag=True, help="Debug messages.")(f)
    return f


def _model_choice():
    from .models import MODELS  # the registry is plain data: no Keras import

    return click.Choice(list(MODELS))


def _engine_options(f):
    from .models import DEFAULT_FILM_MODEL, DEFAULT_MODEL

    f = click.option("--weights", type=click.Path(path_type=Path), default=None,
                     help="A .keras model file of your own (instead of --model).")(f)
    f = click.option("--model", "model_name", type=_model_choice(), default=None,
                     help="Shipped model to use ('ensemble': the best colour on photos, "
                          "about 4x slower; 'paper': the paper's network)  [default: "
                          f"{DEFAULT_MODEL} for photos, {DEFAULT_FILM_MODEL} for films]")(f)
    f = click.option("--render-size", type=click.IntRange(min=16), default=None,
                     help="Long side, in pixels, at which chroma is predicted  [default: "
                          f"{DEFAULT_RENDER_SIZE} for photos, {DEFAULT_FILM_RENDER_SIZE} "
                          "for films]")(f)
    f = click.option("--batch-size", type=click.IntRange(min=1), default=DEFAULT_BATCH_SIZE,
                     show_default=True, help="Images per model call.")(f)
    f = click.option("--saturation", type=click.FloatRange(min=0), default=DEFAULT_SATURATION,
                     show_default=True,
                     help="The model's colours times this (painted frames keep theirs): "
                          "below 1 for fewer wrong colours, 0 for none.")(f)
    return f


def _smoothing_options(f):
    """--temporal/--strength/--radius, shared by colorize and batch (None: the default,
    so colorize can tell an option given for a photo)."""
    f = click.option("--radius", type=click.IntRange(0, 8), default=None,
                     help="Films: frames each side that smoothing looks at  "
                          f"[default: {F.radius}]")(f)
    f = click.option("--strength", type=click.FloatRange(0, 1), default=None,
                     help=f"Films: smoothing strength, 0..1  [default: {F.strength:g}]")(f)
    f = click.option("--temporal", type=click.Choice(["flow", "off"]), default=None,
                     help="Films: chroma smoothing along optical flow, reset at cuts  "
                          "[default: flow]")(f)
    return f


def _setup_logging(quiet, verbose):
    level = logging.ERROR if quiet else logging.DEBUG if verbose else logging.INFO
    logging.getLogger("filmcolor").setLevel(level)


def _weights_path(model_name, weights):
    """The weights file --model or --weights names (None if neither: each medium's
    default model)."""
    from .models import shipped_weights

    if model_name and weights:
        raise click.BadParameter("give --model or --weights, not both", param_hint="'--model'")
    return weights or (shipped_weights(model_name) if model_name else None)


def _max_pixels_option(f):
    return click.option(
        "--max-pixels", type=click.IntRange(min=1), default=None,
        help="Photos: refuse an image whose header declares more pixels than this, before "
             f"decoding it  [default: FILMCOLOR_MAX_PIXELS, else {MAX_PIXELS:_}]")(f)


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="filmcolor")
def cli():
    """Colorize black-and-white films and photographs with convolutional networks.

    \b
      filmcolor film.mp4 colored.mp4     (audio and subtitles kept)
      filmcolor photo.jpg colored.png
      filmcolor album/ colored/          (recursive; folder structure mirrored)
      filmcolor keyframes film.mp4 keys/ (one gray frame per shot, to paint)
      filmcolor train --data DIR --out runs/mine
      filmcolor eval --data DIR
    """


@cli.command(short_help="Colorize a film, a photo or a folder (the default command).")
@click.argument("input", type=click.Path(path_type=Path))
@click.argument("output", type=click.Path(path_type=Path))
@click.option("--overwrite", is_flag=True, help="Replace outputs that already exist.")
@click.option("--codec", default=None,
              help="Video encoder (films only; default from OUTPUT's extension: libx264 "
                   "for .mp4/.mov/.mkv; 'ffv1' in .mkv is lossless).")
@click.option("--crf", type=click.IntRange(0, 51), default=None,
              help=f"x264 quality for films, lower is better  [default: {F.crf}]")
@click.option("--preset", default=None,
              help=f"x264 speed preset for films  [default: {F.preset}]")
@click.option("--start", type=Seconds(), default=None,
              help="Films: begin the excerpt here (seconds or [HH:]MM:SS).")
@click.option("--duration", type=Seconds(), default=None,
              help="Films: excerpt length (seconds or [HH:]MM:SS), for a quick preview.")
@click.option("--compare", is_flag=True,
              help="Films: write the source and the result side by side.")
@click.option("--reference", "references", type=click.Path(path_type=Path), multiple=True,
              help="A folder of painted frames (films: frame-NNNNNN.png from `filmcolor "
                   "keyframes`), whose colours are carried through each shot; or a colour "
                   "photo of a similar scene (an exemplar, photos and films), whose colours "
                   "guide the model. Give both to use both.")
@click.option("--hints", type=click.Path(path_type=Path), default=None,
              help="A photo: colour you know at a few places, spread by the network over "
                   "the regions they sit in: the gray photo with colour painted on it in "
                   "any editor (hints.png; gray means no hint), or points (hints.json: "
                   '{"points": [{"x": 120, "y": 80, "color": "#c03020"}]}). Runs the hint '
                   "model (unet-hints) unless --model or --weights names another that "
                   "takes hints.")
@click.option("--segment-seconds", type=click.FloatRange(min=0), default=None,
              help="Films longer than one segment are done in segments cut at keyframes "
                   "this far apart, kept beside OUTPUT until it is complete, so the same "
                   f"command resumes after a crash; 0: one pass  [default: {SEGMENT_SECONDS:g}]")
@_max_pixels_option
@_smoothing_options
@_engine_options
@_logging_options
def colorize(input, output, overwrite, codec, crf, preset, start, duration, compare,
             references, hints, segment_seconds, max_pixels, temporal, strength, radius, model_name,
             weights, render_size, batch_size, saturation, quiet, verbose):
    """Colorize INPUT (a film, an image or a folder of images) into OUTPUT."""
    from tqdm.contrib.logging import logging_redirect_tqdm

    from .api import colorize as run, is_video

    _setup_logging(quiet, verbose)
    if model_name and weights:
        raise click.BadParameter("give --model or --weights, not both", param_hint="'--model'")
    options = ColorizeOptions(
        model=model_name, weights=weights, render_size=render_size, batch_size=batch_size,
        saturation=saturation, overwrite=overwrite,
        film=FilmOptions.given(codec=codec, crf=crf, preset=preset,
                               **_temporal_args(temporal, strength, radius)),
        segment_seconds=segment_seconds, start=start, duration=duration, compare=compare,
        max_pixels=max_pixels, hints=hints, **_split_references(references))
    if not is_video(input):  # name the first film-only option given, as click would
        for name, value in (("--codec", codec), ("--crf", crf), ("--preset", preset),
                            ("--start", start), ("--duration", duration),
                            ("--segment-seconds", segment_seconds),
                            ("--compare", compare or None),
                            ("--reference", options.reference),
                            ("--temporal", temporal),
                            ("--strength", strength), ("--radius", radius)):
            if value is not None:
                raise click.BadParameter("only applies to video input", param_hint=f"'{name}'")
    elif options.preview and segment_seconds is not None:
        raise click.BadParameter("does not apply to --start, --duration or --compare",
                                 param_hint="'--segment-seconds'")
    with logging_redirect_tqdm(loggers=[log]):
        done = run(input, output, options, progress=not quiet)
    if done.kind == "film":
        log.info("wrote %d frames to %s in %.1f s", done.count, done.output, done.seconds)
    else:
        log.info("wrote %d image%s to %s", done.count, "" if done.count == 1 else "s", output)


def _temporal_args(temporal, strength, radius):
    return {"temporal": temporal != "off",
            "strength": F.strength if strength is None else strength,
            "radius": F.radius if radius is None else radius}


def _split_references(paths):
    """--reference values -> {"reference": painted-frames folder, "exemplar": photo}."""
    out = {}
    for path in paths:
        if not path.exists():
            raise click.BadParameter(f"{path}: no such file or folder",
                                     param_hint="'--reference'")
        kind = "reference" if path.is_dir() else "exemplar"
        if kind in out:
            what = "folder of painted frames" if kind == "reference" else "exemplar photo"
            raise click.BadParameter(f"{path}: give one {what} (also {out[kind]})",
                                     param_hint="'--reference'")
        out[kind] = path
    return out


# the recipes whose network is an encoder U-Net (the options only they take)
ENCODERS = [name for name, recipe in RECIPES.items() if recipe.get("model") in ENCODER_MODELS]


@cli.command()
@click.option("--data", type=click.Path(path_type=Path, exists=True, file_okay=False),
              required=True, help="Folder of colour images (recursive; a 'test' subfolder "
                                  "is never used).")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Run folder: checkpoints, log.csv, loss.png, accuracy.png. Rerun to resume.")
@click.option("--recipe", type=click.Choice(list(RECIPES)),
              default="unet", show_default=True,
              help="The recipe of that shipped model: unet (the default), unet-studio (the "
                   "same with DATA/cutouts on studio backdrops), paper (Fig. 2, same data "
                   "recipe), paper-recipe (Fig. 2 as the paper trains it: L2 0.01, plain "
                   "MSE, constant rate), lite0-unet (a U-Net decoder on the ImageNet "
                   "EfficientNet-Lite0, frozen, then its top blocks fine-tuned; needs "
                   "'filmcolor[encoders]'), lite1-unet and lite2-unet (the same on Lite1 "
                   "and Lite2, shorter), unet-hints (unet-studio fine-tuned to take colour hints: "
                   "points and strokes). The options below override it.")
@click.option("--loss", type=click.Choice(["mse", "ab-distance", "log-mse", "classify"]),
              default=None,
              help="MSE on the ab code; mean ab distance (AuC's measure); per-crop log MSE "
                   "(PSNR's measure); or, U-Net only, classification over ab bins decoded "
                   "by an annealed mean  " + default_help("loss"))
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help=default_help("epochs"))
@click.option("--steps-per-epoch", type=click.IntRange(min=1), default=None,
              help="Training steps (batches) per epoch.  " + default_help("steps_per_epoch"))
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Crops per training step.  " + default_help("batch_size"))
@click.option("--crop", type=click.IntRange(min=16), default=None,
              help="Square random-crop size, a multiple of the network's stride (8 for "
                   "paper, 16 unet, 32 the encoder U-Nets)  " + default_help("crop"))
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Adam learning rate (the start of the cosine decay).  "
                   + default_help("learning_rate"))
@click.option("--l2", type=click.FloatRange(min=0), default=None,
              help="Kernel L2 factor  " + default_help("l2"))
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), default=None,
              help="The paper's network only.  " + default_help("dropout"))
@click.option("--rebalance", type=click.FloatRange(0, 1), default=None,
              help="Class-rebalancing strength (0 = plain loss).  " + default_help("rebalance"))
@click.option("--augment/--no-augment", default=None,
              help="Film-like tone, grain, blur, JPEG and vignetting on the input  "
                   + default_help("augment", show={True: "on", False: "off"}.get))
@click.option("--scale-min", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="Crops cover a region 1 to 1/SCALE-MIN times the crop size (never past "
                   "the picture), scaled down  " + default_help("scale_min"))
@click.option("--ema", type=click.FloatRange(0, 1, max_open=True), default=None,
              help="Momentum per step of a moving average of the weights that validation "
                   "scores and the checkpoints hold (Polyak averaging; 0 = off).  "
                   + default_help("ema"))
@click.option("--cutouts", type=click.Path(path_type=Path, exists=True, file_okay=False),
              default=None, help="Folder of RGBA cut-outs (scripts/make_cutouts.py) for "
                                 "copy-paste augmentation  " + default_help(
                                     "cutouts", show={"": "none", "auto": "DATA/cutouts"}.get))
@click.option("--paste", type=click.FloatRange(0, 1), default=None,
              help="The share of crops that get a cut-out pasted  " + default_help("paste"))
@click.option("--studio", type=click.FloatRange(0, 1), default=None,
              help="The share of crops replaced by a cut-out on a synthetic near-neutral "
                   "studio backdrop  " + default_help("studio"))
@click.option("--render-size", type=click.IntRange(min=16), default=None,
              help="Long side validation images are scaled to.  " + default_help("render_size"))
@click.option("--load-size", type=click.IntRange(min=16), default=None,
              help="Long side training images are held at, before cropping.  "
                   + default_help("load_size"))
@click.option("--val-split", default=None,
              help="Validation subfolder of --data, or a fraction such as 0.15.  "
                   + default_help("val_split"))
@click.option("--frozen-epochs", type=click.IntRange(min=0), default=None,
              help="Encoder models: the first epochs train the decoder on the frozen "
                   "encoder (into OUT/frozen)  " + default_help("frozen_epochs", ENCODERS))
@click.option("--fine-tune-from", type=click.Choice(["0", "2", "4", "8", "16", "32"]),
              default=None, help="Encoder models: after the frozen epochs, its convolutions "
                                 "from this output stride on train (0: none; batch norm "
                                 "stays frozen)  " + default_help("fine_tune_from",
                                                                    ENCODERS))
@click.option("--encoder-rate", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Encoder models: the fine-tuned encoder's learning rate, times the "
                   "decoder's  " + default_help("encoder_rate", ENCODERS))
@click.option("--init", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              default=None, help="Start from this model file's weights (same architecture) "
                                 "instead of fresh ones (encoder models: skips the frozen "
                                 "epochs).")
@click.option("--seed", type=int, default=None,
              help="Seed of the crops, augmentation and initial weights.  " + default_help("seed"))
@_logging_options
def train(data, out, recipe, loss, epochs, steps_per_epoch, batch_size, crop, lr, l2,
          dropout, rebalance, augment, scale_min, ema, cutouts, paste, studio, render_size,
          load_size, val_split, frozen_epochs, fine_tune_from, encoder_rate, init, seed, quiet,
          verbose):
    """Train a network on a folder of colour photographs."""
    from .models import crop_multiple, import_keras

    import_keras()  # first, so TensorFlow's start-up chatter is silenced
    from .recipes import recipe_config
    from .train import train as run_training

    _setup_logging(quiet, verbose)
    architecture = recipe_config(recipe, data="", out="").model
    step = crop_multiple(architecture)
    if crop is not None and crop % step:
        raise click.BadParameter(f"{crop} is not a multiple of {step}", param_hint="'--crop'")
    if architecture != "unet" and loss == "classify":
        raise click.BadParameter(f"the {recipe} network regresses ab: use a regression loss",
                                 param_hint="'--loss'")
    given = dict(loss=loss, epochs=epochs, l2=l2, augment=augment, scale_min=scale_min,
                 cutouts=str(cutouts) if cutouts else None, paste=paste, studio=studio,
                 crop=crop, frozen_epochs=frozen_epochs, encoder_rate=encoder_rate,
                 fine_tune_from=int(fine_tune_from) if fine_tune_from else None,
                 init=str(init) if init else None, batch_size=batch_size,
                 steps_per_epoch=steps_per_epoch, learning_rate=lr, dropout=dropout,
                 rebalance=rebalance, ema=ema, render_size=render_size, val_split=val_split,
                 seed=seed, load_size=load_size)
    overrides = {k: v for k, v in given.items() if v is not None}
    if recipe == "paper-recipe" and render_size:  # one size for training and validation,
        overrides["load_size"] = render_size  # as in the paper
    best = run_training(recipe_config(recipe, data=str(data), out=str(out),
                                      verbose=0 if quiet else 2, **overrides))
    log.info("best model: %s", best)


@cli.command(name="eval", short_help="Score colours against colour originals (photos or film).")
@click.option("--data", type=click.Path(path_type=Path), required=True,
              help="Folder of colour images (recursive), or a colour film.")
@click.option("--model", "model_names", type=_model_choice(), multiple=True,
              help="Shipped model(s) to compare; repeat for several (default: the default "
                   "model).")
@click.option("--weights", "weights_list", type=click.Path(path_type=Path), multiple=True,
              help="Model file(s) to compare, after any --model; repeat for several.")
@click.option("--render-size", type=click.IntRange(min=16), default=None,
              help="Long side, in pixels, at which chroma is predicted  [default: "
                   f"{DEFAULT_RENDER_SIZE} for images, {DEFAULT_FILM_RENDER_SIZE} for a film, as "
                   "when colorizing]")
@click.option("--batch-size", type=click.IntRange(min=1), default=1, show_default=True,
              help="Images per model call (a film: at least 8).")
@click.option("--saturation", type=click.FloatRange(min=0), default=DEFAULT_SATURATION,
              show_default=True, help="The models' colours times this, as when colorizing.")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Only the first N images (or frames of a film).")
@click.option("--per-image", type=click.Path(path_type=Path, dir_okay=False), default=None,
              metavar="FILE.csv",
              help="Also write each image's scores, the worst against gray first.")
@click.option("--reference-from-source", "reference_from", type=click.Choice(["first", "middle"]),
              default=None,
              help="A film: hand the true colour of one frame per shot (its first or middle "
                   "frame) as a painted reference, and score it beside the model alone.")
@click.option("--patches", type=click.IntRange(min=1), default=None, metavar="N",
              help="With --reference-from-source: paint each reference only in N squares "
                   "of 9 px of its true colour (the rest gray), as strokes.")
@click.option("--plot", type=click.Path(path_type=Path, dir_okay=False), default=None,
              metavar="FILE.png",
              help="With --reference-from-source: PSNR against distance from the nearest "
                   "reference.")
@click.option("--hints", type=click.IntRange(min=0), default=None, metavar="N",
              help="Photos: give each model that takes hints N points of the picture's "
                   "true colour (7x7 px, at seeded random places), and score the same points "
                   "spread by Levin et al.'s fill (no network) beside them; with no --model "
                   "or --weights, the hint model and the photos' default (without hints).")
@_logging_options
def eval_(data, model_names, weights_list, render_size, batch_size, saturation, limit,
          per_image, reference_from, patches, plot, hints, quiet, verbose):
    """Gray colour images (or a colour film), colorize them, and print metrics beside the
    gray baseline; for a film also the flicker (warping error) with smoothing on and off."""
    from .errors import InputNotFoundError
    from .evaluation.photos import evaluate, format_table, write_per_image
    from .api import is_video, load_colorizer as _colorizer
    from .models import shipped_weights

    _setup_logging(quiet, verbose)
    if not data.exists():
        raise InputNotFoundError(f"{data}: no such file or folder")
    if (reference_from or plot) and not (data.is_file() and is_video(data)):
        raise click.BadParameter("takes a colour film as --data", param_hint=(
            "'--reference-from-source'" if reference_from else "'--plot'"))
    if (plot or patches) and not reference_from:
        raise click.BadParameter("needs --reference-from-source",
                                 param_hint="'--plot'" if plot else "'--patches'")
    film = data.is_file() and is_video(data)
    if hints is not None and film:
        raise click.BadParameter("takes a folder of photos as --data", param_hint="'--hints'")
    if hints is not None and not (model_names or weights_list):
        from .models import DEFAULT_HINTS_MODEL, DEFAULT_MODEL

        model_names = (DEFAULT_HINTS_MODEL, DEFAULT_MODEL)
    named = {name: shipped_weights(name) for name in model_names}
    # as when colorizing: painted frames go to the hint model
    default = shipped_weights("unet-hints") if reference_from else shipped_weights(film=film)
    paths = list(named.values()) + list(weights_list) or [default]
    if film:
        from .evaluation.films import evaluate_video, format_video_table

        colorizer = _colorizer(paths[0], render_size or DEFAULT_FILM_RENDER_SIZE,
                               max(batch_size, 8), saturation)
        if reference_from:
            from .evaluation.references import (evaluate_references, format_reference_table,
                                                plot_by_distance)

            scores = evaluate_references(data, colorizer, reference_from, progress=not quiet,
                                         patches=patches)
            click.echo(format_reference_table(scores, data))
            if plot:
                plot_by_distance(scores, plot)
            return
        scores = evaluate_video(data, colorizer, limit=limit, progress=not quiet)
        click.echo(format_video_table(scores, data))
        return
    # column names: model names, then file stems, with the folder too where two stems clash
    # (runs/*/best.keras)
    stems = [p.stem for p in weights_list]
    names = [*named, *[f"{p.parent.name}/{p.stem}" if stems.count(p.stem) > 1 else p.stem
                       for p in weights_list]] or [paths[0].stem]
    render_size = render_size or DEFAULT_RENDER_SIZE
    colorizers = {n: _colorizer(p, render_size, batch_size, saturation)
                  for n, p in zip(names, paths)}
    if hints:
        from .hints.levin import levin_colorizer
        from .hints.spread import spread_colorizer

        colorizers = {f"{n} + {hints} hints" if cz.takes_hints else n: cz
                      for n, cz in colorizers.items()}
        colorizers[f"guided spread of {hints}"] = spread_colorizer(render_size)
        colorizers[f"Levin fill of {hints}"] = levin_colorizer(render_size)
    columns, source, n, failures = evaluate(data, colorizers, limit=limit,
                                            progress=not quiet, render_size=render_size,
                                            hints=hints or 0)
    click.echo(format_table(columns, source, n, data))
    if per_image:
        write_per_image(per_image, columns, source)
    if failures:
        from .errors import PartialFailure

        raise PartialFailure(failures, n + len(failures))


@cli.command(short_help="Write one gray frame per shot, to paint for --reference.")
@click.argument("film", type=click.Path(path_type=Path))
@click.argument("keys", type=click.Path(path_type=Path))
@click.option("--every", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Also a frame every this many seconds within a long shot.")
@_logging_options
def keyframes(film, keys, every, quiet, verbose):
    """Write one gray frame per shot of FILM into KEYS, to paint and give back with
    --reference (frame-NNNNNN.png, keyframes.json, contact.jpg)."""
    from tqdm.contrib.logging import logging_redirect_tqdm

    from .keyframes import export_keyframes

    _setup_logging(quiet, verbose)
    with logging_redirect_tqdm(loggers=[log]):
        export_keyframes(film, keys, every=every, progress=not quiet)


@cli.command(short_help="Colorize a shelf of photos and films overnight, resumably.")
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", "outdir", type=click.Path(path_type=Path), required=True,
              help="Output folder: results (structure mirrored), report.html, report.json, "
                   "filmcolor.log and the resume state.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Items colorized in parallel on this machine (worker processes).")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
              help="Run the items on this Dask cluster instead (joblib's dask backend).")
@click.option("--gpus-per-job", type=click.FloatRange(min=0), default=0, show_default=True,
              help="With --scheduler: the workers' 'GPU' resource each item needs.")
@click.option("--worker-timeout", type=click.FloatRange(min=1), default=120,
              show_default=True, metavar="SECONDS",
              help="With --scheduler: stop (finished work kept; rerun to resume) when the "
                   "cluster has had no worker, or the scheduler has been lost, this long.")
@click.option("--codec", default=None, help="Video encoder for films (as for colorize).")
@click.option("--crf", type=click.IntRange(0, 51), default=F.crf, show_default=True,
              help="x264 quality for films, lower is better.")
@click.option("--preset", default=F.preset, show_default=True, help="x264 speed preset.")
@click.option("--segment-seconds", type=click.FloatRange(min=0), default=SEGMENT_SECONDS,
              show_default=True,
              help="Films longer than one segment are cut at keyframes at least this far "
                   "apart: a rerun resumes from the last finished segment, and segments run "
                   "in parallel. 0: whole films only.")
@_max_pixels_option
@_smoothing_options
@_engine_options
@_logging_options
def batch(inputs, outdir, jobs, scheduler, gpus_per_job, worker_timeout, codec, crf, preset,
          segment_seconds, max_pixels, temporal, strength, radius, model_name, weights,
          render_size, batch_size, saturation, quiet, verbose):
    """Colorize many photos and films (files, folders, globs) into OUTDIR; rerun the same
    command to resume. Exits 3 when some items failed (see OUTDIR/report.html)."""
    from tqdm.contrib.logging import logging_redirect_tqdm

    from .batch import BatchOptions, run_batch

    _setup_logging(quiet, verbose)
    options = BatchOptions(weights=_weights_path(model_name, weights), render_size=render_size,
                           batch_size=batch_size, saturation=saturation, jobs=jobs,
                           progress=not quiet, scheduler=scheduler, gpus_per_job=gpus_per_job,
                           worker_timeout=worker_timeout, segment_seconds=segment_seconds,
                           max_pixels=max_pixels,
                           film=FilmOptions.given(codec=codec, crf=crf, preset=preset,
                                                  **_temporal_args(temporal, strength, radius)))
    with logging_redirect_tqdm(loggers=[log]):
        run_batch(inputs, outdir, options)
