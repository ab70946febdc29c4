"""`python -m synthetic`: writes a synthetic dataset tree in UCF-101, HMDB-51 or folder format.

    python -m synthetic --output_dir=DIR [--format=ucf101] [--num_appearances=3
        --num_motions=3 --groups=7 --clips_per_group=3 --num_frames=8,64
        --layout=videos,frames,flow --seed=0]
    python -m synthetic --format=hmdb51 --output_dir=DIR [--hmdb_train=N --hmdb_test=M] ...
    python -m synthetic --format=folder --output_dir=DIR ...

The clips and their pixels are the same in every format (`synthetic.generate` plans and
renders them; `synthetic.formats` names them as HMDB-51 or a folder tree does).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from absl import flags, logging

from synthetic import formats, generate
from tfrecords import output_checks
from tfrecords.errors import UserError, run_binary

FORMATS = ("ucf101", *formats.FORMATS)


def define_flags(flag_values: flags.FlagValues) -> None:
    """Defines the binary's flags on `flag_values`.

    Called only when the module runs as a binary (or by a test with its own FlagValues), so
    importing the library registers no flag that could collide with another binary's.
    """
    defaults, on = generate.SyntheticSpec(), {"flag_values": flag_values}
    flags.DEFINE_string("output_dir", None, "Dataset root to write (local or gs://).", **on)
    flags.DEFINE_enum("format", "ucf101", list(FORMATS), "Tree to write.", **on)
    flags.DEFINE_integer("num_appearances", defaults.num_appearances, "A (1-8).", **on)
    flags.DEFINE_integer("num_motions", defaults.num_motions, "M (1-8); classes = A x M.", **on)
    flags.DEFINE_integer("groups", defaults.groups, "Groups per class (>= 3).", **on)
    flags.DEFINE_integer("clips_per_group", defaults.clips_per_group, "Clips per group.", **on)
    frames = [str(n) for n in defaults.num_frames]
    flags.DEFINE_list("num_frames", frames, "LO,HI: RGB frames per clip (log-uniform).", **on)
    flags.DEFINE_list("layout", list(defaults.layout), f"Subset of {generate.LAYOUTS}.", **on)
    flags.DEFINE_integer("seed", defaults.seed, "Seed; the same seed gives the same bytes.", **on)
    flags.DEFINE_integer("hmdb_train", None, "hmdb51: train clips per class and split.", **on)
    flags.DEFINE_integer("hmdb_test", None, "hmdb51: test clips per class and split.", **on)
    flags.mark_flag_as_required("output_dir", flag_values=flag_values)


def spec_from_flags(flag_values: flags.FlagValues) -> generate.SyntheticSpec:
    """Builds the spec from parsed flags.

    Raises:
      UserError: a flag value is invalid; the message names the flag.
    """
    try:
        num_frames = tuple(int(n) for n in flag_values.num_frames)
    except ValueError as e:
        raise UserError(f"--num_frames must be LO,HI integers, got {flag_values.num_frames}") from e
    try:
        return generate.SyntheticSpec(
            num_appearances=flag_values.num_appearances,
            num_motions=flag_values.num_motions,
            groups=flag_values.groups,
            clips_per_group=flag_values.clips_per_group,
            num_frames=num_frames,
            layout=tuple(flag_values.layout),
            seed=flag_values.seed,
        )
    except ValueError as e:
        raise UserError(f"invalid flag: {e}") from e


def run(flag_values: flags.FlagValues) -> None:
    """Generates the tree `flag_values` describe and logs what was written.

    Raises:
      UserError: a flag value is invalid, or --output_dir cannot be written; the message
        names the flag.
    """
    spec = spec_from_flags(flag_values)
    hmdb_counts = (flag_values.hmdb_train, flag_values.hmdb_test)
    if flag_values.format != "hmdb51" and hmdb_counts != (None, None):
        raise UserError("--hmdb_train and --hmdb_test apply to --format=hmdb51 only")
    out, start = flag_values.output_dir, time.perf_counter()
    output_checks.check_output_dir(out, "--output_dir")
    if flag_values.format == "ucf101":
        clips = generate.generate(out, spec)
        logging.info(
            "Wrote %d clips (%d classes, %d RGB frames each in %s) under %s in %.1f s",
            len(clips), len(generate.class_names(spec)), sum(c.num_frames for c in clips),
            ",".join(spec.layout), out, time.perf_counter() - start,
        )  # fmt: skip
        return
    if flag_values.format == "hmdb51":
        try:
            written = formats.generate_hmdb(
                out, spec, flag_values.hmdb_train, flag_values.hmdb_test
            )
        except ValueError as e:
            raise UserError(str(e)) from e
    else:
        written = formats.generate_folder(out, spec)
    logging.info("Wrote %d clips in %s format under %s", len(written), flag_values.format, out)


def main(argv: Sequence[str]) -> None:
    """The binary's entry point: `run` on the global flags."""
    del argv  # run_binary refuses positional arguments
    run(flags.FLAGS)


if __name__ == "__main__":
    define_flags(flags.FLAGS)
    run_binary(main)
