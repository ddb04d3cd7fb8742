"""``dd show RUN``: a PNG grid per class of a distilled set, and an optional ImageFolder export."""

from __future__ import annotations

from pathlib import Path

from ddcore.hookspecs import hookimpl


@hookimpl
def register_commands(cli):
    import click

    @cli.command("show")
    @click.argument("path", type=click.Path())
    @click.option("--out", default=None, help="Folder for the PNGs (default: PATH/show).")
    @click.option("--imagefolder", default=None, help="Also export every image as PNG into an ImageFolder tree here.")
    @click.option("--scale", type=int, default=None, help="Upscale factor for small images (default: to about 64 px).")
    def show_cmd(path, out, imagefolder, scale) -> None:
        """Write a PNG grid per class (and optionally an ImageFolder of PNGs)."""
        from ddcore.artifact import DistilledSet, resolve_artifact_path

        from .finished_runs import for_display
        from .images import export_imagefolder, removed_on_failure, write_grids

        artifact = resolve_artifact_path(path, must_exist=True)
        dset = DistilledSet.load(artifact)
        if (artifact.parent / "manifest.json").is_file() and artifact.name == "distilled.safetensors":
            from ddcore.stage_files import read_manifest

            from .report import check_against_manifest

            check_against_manifest(artifact.parent, dset, read_manifest(artifact.parent))
        dset = for_display(dset)
        target = Path(out) if out else artifact.parent / "show"
        with removed_on_failure(target):
            paths = write_grids(dset, target, scale=scale)
        click.echo(f"wrote {len(paths)} PNGs to {target} (overview: {paths[0]})")
        if imagefolder:
            n = export_imagefolder(dset, Path(imagefolder))
            click.echo(f"exported {n} images to {imagefolder}")
