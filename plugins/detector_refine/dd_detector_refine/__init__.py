"""Detector-guided refinement: regenerate label-inconsistent synthetic images with a diffusion model.

Registered through the `ddcore` entry-point group under the stage name `detector_refine`. The
implementation arrives with its own issue; until then the package registers nothing, so that
the install path and `dd plugins` listing are real.
"""
