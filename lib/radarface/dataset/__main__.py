"""Command line for synthetic radar face datasets.

    python -m radarface.dataset generate [--out data/NAME.h5] [--n N] [--profile P]
                                         [--workers W] [--seed S] [--model SOURCE]
                                         [--shard K/M] [--dtype float16|float32]
                                         [--set NAME=VALUE ...] [--no-progress]
                                         [--scheduler tcp://HOST:8786 [--shards M]]
    python -m radarface.dataset combine --out data/NAME.h5 SHARD.h5 [SHARD.h5 ...]
    python -m radarface.dataset info data/NAME.h5
    python -m radarface.dataset path [--profile P] [--set NAME=VALUE ...]

``generate`` is resumable: after Ctrl-C, ``kill -9``, a power cut or a full disk (exit code 1,
with a message saying how many samples are saved), run the same command again. Without ``--out`` it writes the profile's default file (what the notebooks read,
see ``path``); ``--n`` defaults to the profile's ``n_samples``. ``--set`` overrides any
profile setting (e.g. ``--set image_size=48``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

from radarface import profiles
from radarface.dataset.combine import combine
from radarface.dataset.generator import default_path, generate, parse_shard, shard_path
from radarface.dataset.schema import open_dataset_file, read_settings
from radarface.dataset.settings import DatasetSettings
from radarface.dataset.store import DiskFull
from radarface.run import parse_settings


def _settings(args: argparse.Namespace) -> DatasetSettings:
    """The dataset settings of ``--profile`` with the options and ``--set`` overrides applied."""
    overrides = parse_settings(args.set)
    for key in ("seed", "model", "workers", "n_samples"):
        if getattr(args, key, None) is not None:
            overrides[key] = getattr(args, key)
    if getattr(args, "dtype", None):
        overrides["dataset_dtype"] = args.dtype
    return DatasetSettings.from_profile(profiles.resolve(args.profile, **overrides))


def _generate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    model = settings.face_model()
    out = Path(args.out) if args.out else default_path(settings, model)
    print(f"generating {settings.n_samples} samples (profile {settings.profile}, model {model.name}, "
          f"seed {settings.seed}) -> {shard_path(out, parse_shard(args.shard))}",
          file=sys.stderr, flush=True)
    start = time.perf_counter()
    if args.scheduler:
        if args.shard:
            raise ValueError("--scheduler splits the dataset into shards itself; leave out --shard (use --shards M)")
        from radarface.dataset.cluster import generate_on_cluster  # dask's distributed: only for --scheduler

        path = generate_on_cluster(out, settings.n_samples, settings.radar_config(), settings.seed,
                                   scheduler=args.scheduler, model=model, shards=args.shards, dtype=settings.dtype,
                                   show_progress=not args.no_progress)
    else:
        path = generate(out, settings.n_samples, settings.radar_config(), settings.seed, settings.workers,
                        model=model, shard=args.shard, dtype=settings.dtype, progress=not args.no_progress)
    print(f"{path}: complete ({path.stat().st_size / 1e6:.1f} MB, {time.perf_counter() - start:.0f} s)")
    return 0


def _combine(args: argparse.Namespace) -> int:
    path = combine(args.shards, args.out)
    print(f"{path}: virtual dataset over {len(args.shards)} shard(s)")
    return 0


def _info(args: argparse.Namespace) -> int:
    with open_dataset_file(args.path, allow_incomplete=True) as h5:
        settings = read_settings(h5)
        done = int(h5["done"][:].sum())
        print(f"{args.path}: {'complete' if h5.attrs['complete'] else 'INCOMPLETE'}, {done} of "
              f"{h5['done'].shape[0]} samples (indices {settings['index_start']}..{settings['index_stop'] - 1} "
              f"of {settings['n']}), images {h5['amplitude'].shape[1:]} {h5['amplitude'].dtype}")
        print(json.dumps(settings, indent=1, sort_keys=True))
    return 0


def _path(args: argparse.Namespace) -> int:
    with contextlib.redirect_stdout(sys.stderr):  # load_model("auto") says what it chose
        path = default_path(_settings(args))
    print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m radarface.dataset", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="generate, finish or check a dataset file")
    gen.add_argument("--out", help="output file (default: the profile's file in data/)")
    gen.add_argument("--n", dest="n_samples", type=int, help="number of samples (default: the profile's)")
    gen.add_argument("--profile", default="cpu", choices=profiles.names())
    gen.add_argument("--workers", type=int, help="renderer processes, 0 = all cores (default: the profile's)")
    gen.add_argument("--seed", type=int)
    gen.add_argument("--model", help='face model source: builtin, ict, auto, or a file/folder path')
    gen.add_argument("--shard", help="K/M: generate only the K-th of M index ranges (K from 1)")
    gen.add_argument("--dtype", choices=("float16", "float32"), help="image dtype (default: the profile's)")
    gen.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    gen.add_argument("--scheduler", help="address of a Dask scheduler (tcp://HOST:8786): render shards on its "
                                         "workers, then combine them (a shared filesystem is needed)")
    gen.add_argument("--shards", type=int, help="with --scheduler: number of shards (default: 2 per worker thread)")
    gen.add_argument("--no-progress", action="store_true")
    gen.set_defaults(run=_generate)
    comb = sub.add_parser("combine", help="join shard files into one virtual dataset (no copy)")
    comb.add_argument("--out", required=True)
    comb.add_argument("shards", nargs="+")
    comb.set_defaults(run=_combine)
    info = sub.add_parser("info", help="state and settings of a dataset file")
    info.add_argument("path")
    info.set_defaults(run=_info)
    where = sub.add_parser("path", help="print the profile's default dataset file")
    where.add_argument("--profile", default="cpu", choices=profiles.names())
    where.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    where.set_defaults(run=_path)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        return 130  # the writer has said how to resume
    except DiskFull as err:  # not a usage error: the same command works once there is room
        print(f"python -m radarface.dataset {args.command}: {err}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError) as err:
        print(f"python -m radarface.dataset {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
