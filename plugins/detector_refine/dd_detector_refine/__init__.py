"""Detector-guided refinement (arXiv 2507.13074) as a ddcore plugin, stage name ``detector_refine``.

Registers, all under ``detector_refine`` (thin classes in ``components.py``):

* a synthesizer: D4M-style img2img from k-means latent prototypes (``synthesis.py``), used when
  ``detector_refine`` comes first in ``--plugins``;
* a scorer: the detector's anomaly columns (``anomaly.py``);
* a refinement selector: K candidates per anomalous image, chosen by confidence and
  dissimilarity (``refine.py``), usable after any synthesizer;
* options (``options.py``) and the ``dd detector_refine`` commands (``commands.py``).

Heavy libraries (diffusers, scikit-learn) are imported inside the components.
"""

from ddcore import hookimpl

__version__ = "0.1.0"


@hookimpl
def register_synthesizers(register):
    from .components import PrototypeSynthesizer

    register(PrototypeSynthesizer())


@hookimpl
def register_scorers(register):
    from .components import AnomalyScorer

    register(AnomalyScorer())


@hookimpl
def register_selectors(register):
    from .components import DetectorRefiner

    register(DetectorRefiner())


@hookimpl
def register_options(register):
    from .options import DetectorRefineOptions

    register("detector_refine", DetectorRefineOptions)


@hookimpl
def register_commands(cli):
    from .commands import detector_refine_group

    cli.add_command(detector_refine_group)
